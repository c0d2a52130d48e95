// pnpm bench: this project's supervisor (with each adapter) beside a bare node:cluster primary and PM2, on the same
// machine, app and load. Progress goes to stderr; the markdown tables to stdout; the same figures to the results
// file bench/results/bench-<date>.json, with its charts beside it (lib/results-file.mjs).
//
//   node bench/bench.mjs [--quick] [--workers N] [--clients N] [--only 1,2,3,4,5,6,7,8,canary,sticky] [--systems zdt,bare,pm2] [--out DIR]
//
// Each measurement is a file of bench/measurements/; this one runs them in turn, each system in its own processes,
// one load at a time, and a system that breaks in one scenario is reported as such while the others still run.
import os from 'node:os';
import path from 'node:path';
import { cleanUp, installSignalCleanup } from '@zero-downtime/testkit';
import { findContenders, rolloutSystems } from './lib/contenders.mjs';
import { firstLine } from './lib/format.mjs';
import { makeLoads } from './lib/loads.mjs';
import { commitOf, writeResults } from './lib/results-file.mjs';
import { progress, readFlags } from './lib/settings.mjs';
import { markdown } from './lib/table.mjs';
import { targets } from './lib/targets.mjs';
import { badRelease } from './measurements/bad-release.mjs';
import { connectionPath } from './measurements/connection-path.mjs';
import { connectionPathChecks } from './measurements/connection-path-table.mjs';
import { HOOKS, runHook } from './measurements/hooks.mjs';
import { killNine } from './measurements/kill-nine.mjs';
import { requestPath } from './measurements/request-path.mjs';
import { rollingRestarts } from './measurements/rolling-restarts.mjs';
import { supervisorReplacement } from './measurements/supervisor-replacement.mjs';
import { throughputAndMemory } from './measurements/throughput.mjs';

const { settings, scenarios, systems, out } = readFlags();
installSignalCleanup();

/** Stops what a broken step left running, so that the next one starts on a quiet machine. */
async function afterError(ctx) {
  await ctx.loads.stopAll();
  await cleanUp();
}

/** Scenarios 1 to 3: `measure(entry, ctx)` for each system in turn; an error is that system's row. */
async function eachSystem(scenario, measure, ctx) {
  const rows = [];
  for (const entry of rolloutSystems(ctx)) {
    if (entry.rolloutOnly && scenario !== '1') continue;
    try {
      rows.push(await measure(entry, ctx));
    } catch (error) {
      progress(`[${scenario}] ${entry.label}: ERROR ${error.message}`);
      rows.push({ system: entry.label, key: entry.key, error: firstLine(error) });
      await afterError(ctx);
    }
  }
  return rows;
}

async function replacements(ctx) {
  const rows = [];
  for (const how of ['upgrade', 'restart']) {
    try {
      rows.push(await supervisorReplacement(how, ctx));
    } catch (error) {
      progress(`[6] ${how}: ERROR ${error.message}`);
      rows.push({ system: how, key: `replace-${how}`, error: firstLine(error) });
      await afterError(ctx);
    }
  }
  return rows;
}

/** A measurement of its own (4 and 5, 8): its figures under `key`, or its error under `${key}Error`. */
async function whole(results, key, label, measure, ctx) {
  try {
    results[key] = await measure(ctx);
  } catch (error) {
    progress(`[${label}] ERROR ${error.message}`);
    results[`${key}Error`] = firstLine(error);
    await afterError(ctx);
  }
}

async function measureAll(results, ctx) {
  results.timings = {};
  /** Runs one step when it was asked for, and records how long it took (seconds). */
  const step = async (name, wanted, measure) => {
    if (!wanted) return;
    const began = Date.now();
    await measure();
    results.timings[name] = Math.round((Date.now() - began) / 1000);
    progress(`[${name}] took ${results.timings[name]} s`);
  };
  await step('1', scenarios.has('1'), async () => (results.rollouts = await eachSystem('1', rollingRestarts, ctx)));
  await step('2', scenarios.has('2'), async () => (results.badRelease = await eachSystem('2', badRelease, ctx)));
  await step('3', scenarios.has('3'), async () => (results.killNine = await eachSystem('3', killNine, ctx)));
  await step('6', scenarios.has('6') && ctx.hasSupervisor, async () => (results.supervisorReplacement = await replacements(ctx)));
  await step('7', scenarios.has('7'), async () => (results.micro = await requestPath(ctx)));
  await step('4', scenarios.has('4') || scenarios.has('5'), () => whole(results, 'throughput', '4', throughputAndMemory, ctx));
  await step('8', scenarios.has('8'), () => whole(results, 'connectionPath', '8', connectionPath, ctx));
  for (const hook of HOOKS) {
    await step(hook.name, scenarios.has(hook.name), async () => {
      results.hooks ??= [];
      results.hooks.push(await runHook(hook, ctx));
    });
  }
}

async function main() {
  const began = Date.now();
  const loadAtStart = os.loadavg().map((value) => Number(value.toFixed(2)));
  const contenders = await findContenders(systems, progress);
  /** Whether a measurement may still add rounds to an undecided figure (settings.extendWithinMs). */
  const mayExtend = () => Date.now() - began < settings.extendWithinMs;
  const ctx = { settings, systems, progress, mayExtend, loads: makeLoads(settings), ...contenders };
  const results = { settings, startedAt: new Date().toISOString(), commit: commitOf(), supervisorAvailable: contenders.hasSupervisor, adapters: contenders.adapters };
  await ctx.loads.warmUp();
  await measureAll(results, ctx);
  results.targets = targets(results, [connectionPathChecks]);
  results.durationMs = Date.now() - began;
  // Other work on the machine skews every figure: say how busy it was.
  results.loadAverage = { atStart: loadAtStart, atEnd: os.loadavg().map((value) => Number(value.toFixed(2))) };
  process.stdout.write(`${markdown(results)}\n`);
  const file = writeResults(results, scenarios, out);
  progress(`bench done in ${((Date.now() - began) / 1000).toFixed(0)} s; results in ${path.relative(process.cwd(), file)}`);
}

try {
  await main();
} finally {
  await cleanUp();
}
