// The figures of docs/benchmarks.md that come from `pnpm bench`, written from one results file: the page's part
// between its two markers is pageFigures()'s output, so the page and the file cannot disagree (a test checks it).
import path from 'node:path';
import { connectionPathSection, costSection, hookSections, upgradeSection } from './page-costs.mjs';
import { rolloutSection } from './page-rollouts.mjs';

export const BEGIN = '<!-- figures of pnpm bench: written by node bench/docs-page.mjs from the results file named below -->';
export const END = '<!-- end of the figures of pnpm bench -->';

/** `bench/results/bench-2026-12-07.json` (run started 2026-12-07T21:35:00Z at commit `abc1234`) */
function source(results, file) {
  const commit = results.commit ? `at commit \`${results.commit.id}\`${results.commit.dirty ? ' (with uncommitted changes)' : ''}` : 'at a commit it did not record';
  return `\`${file}\`: run started ${results.startedAt.replace(/\.\d+Z$/, 'Z')} ${commit}`;
}

/**
 * The markdown between the markers, both included, for the results file at `file` (a path from the repository root);
 * its connection-path chart is the SVG beside it, linked from docs/.
 */
export function pageFigures(results, file) {
  const chart = path.posix.join('..', file.replace(/\.json$/, '-connection-path.svg'));
  const lines = [
    BEGIN,
    '',
    ...rolloutSection(results, source(results, file)),
    ...costSection(results),
    ...connectionPathSection(results, chart),
    ...upgradeSection(results),
    ...hookSections(results),
    END,
  ];
  return lines.join('\n');
}

/** The page with its figures replaced; throws when the page lacks the markers. */
export function replaceFigures(page, figures) {
  const from = page.indexOf(BEGIN);
  const to = page.indexOf(END);
  if (from < 0 || to < from) throw new Error(`the page has no markers "${BEGIN}" ... "${END}"`);
  return page.slice(0, from) + figures + page.slice(to + END.length);
}

/** The results file the page's figures name, from the repository root. */
export function namedResultsFile(page) {
  const from = page.indexOf(BEGIN);
  return from < 0 ? undefined : /Results file `([^`]+\.json)`/.exec(page.slice(from))?.[1];
}
