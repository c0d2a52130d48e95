/**
 * docs/benchmarks.md, README.md's "Measured" paragraph and their results file agree: the figures of `pnpm bench` are
 * exactly what bench/docs-page.mjs writes from the results file the page names, and that file's chart is committed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
// @ts-expect-error: the bench is plain JavaScript without declarations
import { BEGIN, END, README_BEGIN, README_END, namedResultsFile, pageFigures, readmeMeasured } from '../bench/lib/page.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const between = (text: string, begin: string, end: string) => text.slice(text.indexOf(begin), text.indexOf(end) + end.length);

it('the figures of pnpm bench on the benchmarks page and in the README are those of the results file the page names', () => {
  const page = readFileSync(path.join(root, 'docs', 'benchmarks.md'), 'utf8');
  const file = namedResultsFile(page);
  expect(file, 'the page names its results file').toMatch(/^bench\/results\/bench-\d{4}-\d{2}-\d{2}\.json$/);
  const results = JSON.parse(readFileSync(path.join(root, file), 'utf8'));
  expect(between(page, BEGIN, END)).toBe(pageFigures(results, file));
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  expect(between(readme, README_BEGIN, README_END)).toBe(readmeMeasured(results, file));
  if (results.connectionPath) expect(existsSync(path.join(root, file.replace(/\.json$/, '-connection-path.svg')))).toBe(true);
});
