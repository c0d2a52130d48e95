// Writes the figures of `pnpm bench` into docs/benchmarks.md and README.md's "Measured" paragraph from a results file
// (each between its two markers): one source for every figure, named with its run's date and commit.
//
//   node bench/docs-page.mjs bench/results/bench-2026-12-07.json
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { README_BEGIN, README_END, pageFigures, readmeMeasured, replaceBetween } from './lib/page.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const page = path.join(root, 'docs', 'benchmarks.md');
const readme = path.join(root, 'README.md');
const given = process.argv[2];
if (!given || !existsSync(given)) {
  process.stderr.write(`usage: node bench/docs-page.mjs RESULTS.json; received ${JSON.stringify(given ?? null)}${given ? ', which does not exist' : ''}\n`);
  process.exit(2);
}
const file = path.relative(root, path.resolve(given)).split(path.sep).join('/');
const results = JSON.parse(readFileSync(given, 'utf8'));
let pageText;
let readmeText;
try {
  pageText = replaceBetween(readFileSync(page, 'utf8'), pageFigures(results, file));
  readmeText = replaceBetween(readFileSync(readme, 'utf8'), readmeMeasured(results, file), README_BEGIN, README_END);
} catch (error) {
  process.stderr.write(`nothing written: ${error.message}\n`);
  process.exit(1);
}
writeFileSync(page, pageText);
writeFileSync(readme, readmeText);
console.log(`docs/benchmarks.md and README.md: the figures of ${file}`);
