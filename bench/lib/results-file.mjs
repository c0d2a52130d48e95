// The results file of a run and its charts. A complete run writes bench/results/bench-<date>.json (the date the run
// started, UTC) with <stem>-rollout.svg, -bad-release.svg and -connection-path.svg beside it; a run with --quick or
// with only some scenarios writes partial-<scenarios>[-quick].json and its charts instead, never over a complete one.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { captionOf, chartsOf } from './charts.mjs';
import { ALL_SCENARIOS } from './settings.mjs';
import { benchDir } from './systems.mjs';

/** The commit the run measures, and whether tracked files differed from it; null outside a git checkout. */
export function commitOf() {
  const git = (...args) => execFileSync('git', args, { cwd: benchDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return { id: git('rev-parse', '--short', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no') !== '' };
  } catch {
    return null;
  }
}

/** The results file's name without its extension. */
export function resultsStem(results, scenarios) {
  const complete = !results.settings.quick && ALL_SCENARIOS.every((scenario) => scenarios.has(scenario));
  if (complete) return `bench-${results.startedAt.slice(0, 10)}`;
  return `partial-${[...scenarios].join('-')}${results.settings.quick ? '-quick' : ''}`;
}

/** Writes the charts of `results` beside `file` (the results file); returns their paths. */
export function writeCharts(results, file) {
  const stem = file.replace(/\.json$/, '');
  return chartsOf(results, `${captionOf(results)}, ${path.basename(file)}`).map(({ name, svg }) => {
    const target = `${stem}-${name}.svg`;
    writeFileSync(target, svg);
    return target;
  });
}

/** Writes the results file and its charts into `directory`; returns the results file's path. */
export function writeResults(results, scenarios, directory) {
  mkdirSync(directory, { recursive: true });
  const file = path.join(directory, `${resultsStem(results, scenarios)}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  writeCharts(results, file);
  return file;
}
