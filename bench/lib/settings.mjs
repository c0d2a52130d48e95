// The bench's command line, and the settings every measurement reads from it: one place for each figure's size and
// duration, so that `--quick` shortens every step alike and the results file records what was run.
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchDir } from './systems.mjs';

/** Every measurement a complete run takes, in the order `--only` names them. */
export const ALL_SCENARIOS = ['1', '2', '3', '4', '5', '6', '7', '8', 'canary', 'sticky'];

export const USAGE =
  'node bench/bench.mjs [--quick] [--workers N] [--clients N] [--only 1,2,3,4,5,6,7,8,canary,sticky] [--systems zdt,bare,pm2] [--out DIR]';

/** Progress goes to stderr: stdout carries the tables alone. */
export const progress = (...parts) => process.stderr.write(`${parts.join(' ')}\n`);

function positiveInteger(name, text) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`--${name} must be a positive integer, received ${JSON.stringify(text)}\nusage: ${USAGE}\n`);
    process.exit(2);
  }
  return value;
}

/** The flags of `argv`, checked: a bad value exits 2 with the value received. */
export function readFlags(argv = process.argv.slice(2)) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        workers: { type: 'string', default: '2' },
        clients: { type: 'string', default: '16' },
        only: { type: 'string', default: ALL_SCENARIOS.join(',') },
        systems: { type: 'string', default: 'zdt,bare,pm2' },
        out: { type: 'string', default: path.join(benchDir, 'results') },
      },
    }));
  } catch (error) {
    process.stderr.write(`${error.message}\nusage: ${USAGE}\n`);
    process.exit(2);
  }
  const scenarios = new Set(values.only.split(',').map((entry) => entry.trim()).filter(Boolean));
  const unknown = [...scenarios].filter((scenario) => !ALL_SCENARIOS.includes(scenario));
  if (unknown.length) {
    process.stderr.write(`--only takes ${ALL_SCENARIOS.join(', ')}; received ${unknown.join(', ')}\nusage: ${USAGE}\n`);
    process.exit(2);
  }
  const quick = values.quick;
  const settings = {
    quick,
    workers: positiveInteger('workers', values.workers),
    clients: positiveInteger('clients', values.clients),
    rollouts: quick ? 2 : 3,
    steadyMs: quick ? 1_500 : 2_500,
    gapMs: 1_000,
    // Many short runs taken in turn: the spread of their paired ratios says how far a figure can be trusted.
    throughputMs: 400,
    throughputRounds: quick ? 16 : 30,
    throughputMaxRounds: quick ? 16 : 80,
    microRounds: quick ? 82 : 205,
    microMaxRounds: quick ? 205 : 328,
    // The connection path (scenario 8): every setup up at once, runs taken in turn, the whole set started twice.
    pathClients: 8,
    pathRunMs: quick ? 500 : 1_000,
    pathRounds: quick ? 2 : 5,
    pathSets: quick ? 1 : 2,
    // Scripts other measurements live in (bench/canary.mjs, bench/sticky.mjs), with --quick: each is stopped at this
    // bound (a full run's bounds are in measurements/hooks.mjs).
    hookTimeoutMs: 120_000,
    // More rounds for a figure that is not decided yet are taken only this far into a run, so that a busy machine
    // cannot stretch a run far beyond its planned length (about 15 minutes on 2 cores).
    extendWithinMs: quick ? 0 : 9 * 60_000,
    killTimeoutMs: 5_000,
    cpus: os.availableParallelism(),
    node: process.version,
  };
  const systems = new Set(values.systems.split(',').map((entry) => entry.trim()));
  return { settings, scenarios, systems, out: values.out };
}
