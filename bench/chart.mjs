// Makes the charts of a results file again, beside it: <stem>-rollout.svg, -bad-release.svg, -connection-path.svg.
//
//   node bench/chart.mjs bench/results/bench-2026-12-07.json
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeCharts } from './lib/results-file.mjs';

const file = process.argv[2];
if (!file || !existsSync(file)) {
  process.stderr.write(`usage: node bench/chart.mjs RESULTS.json; received ${JSON.stringify(file ?? null)}${file ? ', which does not exist' : ''}\n`);
  process.exit(2);
}
const written = writeCharts(JSON.parse(readFileSync(file, 'utf8')), file);
if (!written.length) {
  process.stderr.write(`no chart written: ${file} has no figures to draw\n`);
  process.exit(1);
}
console.log(written.map((target) => path.relative(process.cwd(), target)).join('\n'));
