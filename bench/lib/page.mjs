// The figures of docs/benchmarks.md that come from `pnpm bench`, written from one results file: the page's part
// between its two markers is pageFigures()'s output, so the page and the file cannot disagree (a test checks it).
import path from 'node:path';
import { connectionPathSection, costSection, hookSections, upgradeSection } from './page-costs.mjs';
import { frameworkOf, good, int } from './page-format.mjs';
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

export const README_BEGIN = '<!-- measured: written by node bench/docs-page.mjs from the results file named below -->';
export const README_END = '<!-- end of measured -->';

/** The README's "Measured" paragraph, markers included: the rollout figures of the same results file. */
export function readmeMeasured(results, file) {
  const { settings } = results;
  const rows = good(results.rollouts);
  const zdt = rows.filter((row) => row.key.startsWith('zdt-'));
  const failed = (key) => rows.find((row) => row.key === key)?.failed;
  const zdtFailed = zdt.reduce((sum, row) => sum + row.failed, 0);
  const frameworks = [...new Set(zdt.map(frameworkOf))];
  const named = frameworks.length > 1 ? `${frameworks.slice(0, -1).join(', ')} and ${frameworks.at(-1)}` : frameworks.join('');
  const others = [
    failed('bare') === undefined ? undefined : `${int(failed('bare'))} for bare \`node:cluster\``,
    failed('pm2') === undefined ? undefined : `${int(failed('pm2'))} for PM2 \`reload\``,
  ].filter(Boolean);
  const commit = results.commit ? `, commit \`${results.commit.id}\`` : '';
  return [
    README_BEGIN,
    `With ${settings.workers} workers and ${settings.clients} keep-alive clients through ${settings.rollouts} rolling restarts: ${int(zdtFailed)} failed requests under \`zdt\` with ${named}${others.length ? `, against ${others.join(' and ')}` : ''} (${results.startedAt.slice(0, 10)}${commit}, Node ${settings.node}, \`${file}\`); every figure with its date, commit and results file is in [docs/benchmarks.md](docs/benchmarks.md).`,
    README_END,
  ].join('\n');
}

/** `text` with the part from `begin` to `end` (both included) replaced; throws when the markers are missing. */
export function replaceBetween(text, replacement, begin = BEGIN, end = END) {
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`no markers "${begin}" ... "${end}"`);
  return text.slice(0, from) + replacement + text.slice(to + end.length);
}

/** The results file the page's figures name, from the repository root. */
export function namedResultsFile(page) {
  const from = page.indexOf(BEGIN);
  return from < 0 ? undefined : /Results file `([^`]+\.json)`/.exec(page.slice(from))?.[1];
}
