// Writes the figures of `pnpm bench` into docs/benchmarks.md from a results file (between the page's two markers):
// one source for every figure, named on the page with its run's date and commit.
//
//   node bench/docs-page.mjs bench/results/bench-2026-12-07.json
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pageFigures, replaceFigures } from './lib/page.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const page = path.join(root, 'docs', 'benchmarks.md');
const given = process.argv[2];
if (!given || !existsSync(given)) {
  process.stderr.write(`usage: node bench/docs-page.mjs RESULTS.json; received ${JSON.stringify(given ?? null)}${given ? ', which does not exist' : ''}\n`);
  process.exit(2);
}
const file = path.relative(root, path.resolve(given)).split(path.sep).join('/');
const results = JSON.parse(readFileSync(given, 'utf8'));
try {
  writeFileSync(page, replaceFigures(readFileSync(page, 'utf8'), pageFigures(results, file)));
} catch (error) {
  process.stderr.write(`docs/benchmarks.md not written: ${error.message}\n`);
  process.exit(1);
}
console.log(`docs/benchmarks.md: the figures of ${file}`);
