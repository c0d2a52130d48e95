// Scenario 1: rolling restarts under steady load. Requests served and failed, latency in steady state and during
// each rollout, how long a rollout took and, for zero-downtime, where its time went (from the supervisor's events).
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, isAlive, latencyIn, rssOf, waitFor } from '@zero-downtime/testkit';
import { errorRow, failedCell, ms } from '../lib/format.mjs';
import { logRecords, rolloutBreakdown } from '../lib/rollout-breakdown.mjs';
import { summarize } from '../lib/stats.mjs';

async function waitReplaced(system, before, settings) {
  try {
    await waitFor(() => before.every((pid) => !isAlive(pid)), 'old workers to exit', { timeoutMs: settings.killTimeoutMs + 2_000 });
  } catch {
    // reported below as "not replaced"
  }
  const after = system.workerPids();
  return { after, replaced: before.every((pid) => !after.includes(pid)) && after.length >= settings.workers };
}

/** One rollout: the reload, the old workers gone, and where the time went (zero-downtime only: the others report none). */
async function rollout(entry, system, load, index, { settings, progress }) {
  const before = system.workerPids();
  const from = load.now();
  const reload = await system.reload();
  const to = load.now();
  const { after, replaced } = await waitReplaced(system, before, settings);
  const breakdown = system.logLines
    ? await waitFor(() => rolloutBreakdown(logRecords(system.logLines()), index + 1), 'the rollout in the supervisor log', { timeoutMs: 3_000 }).catch(() => undefined)
    : undefined;
  const parts = breakdown ? ` (booting ${breakdown.bootUnionMs} ms, waiting for drains ${breakdown.drainWaitMs} ms, supervisor ${breakdown.overheadMs} ms)` : '';
  progress(
    `[1] ${entry.label}: rollout ${index + 1} ${reload.ok ? 'ok' : 'FAILED'} in ${Math.round(reload.durationMs)} ms${parts}, replaced: ${replaced}, failed so far: ${load.progress().failed}`,
  );
  return { ok: reload.ok, durationMs: Math.round(reload.durationMs), reported: reload.reported, window: [from, to], before, after, replaced, breakdown };
}

/** The mean breakdown over the rollouts, or null when some rollout has none. */
function meanBreakdown(rollouts) {
  const breakdowns = rollouts.map((entry) => entry.breakdown).filter(Boolean);
  if (breakdowns.length !== rollouts.length) return null;
  const mean = (field) => Math.round(breakdowns.reduce((sum, breakdown) => sum + breakdown[field], 0) / breakdowns.length);
  return {
    bootSumMs: mean('bootSumMs'),
    bootUnionMs: mean('bootUnionMs'),
    drainMeanMs: mean('drainMeanMs'),
    drainWaitMs: mean('drainWaitMs'),
    overheadMs: mean('overheadMs'),
    // The median of the rollouts: one slow moment of a busy machine must not move it.
    overheadPerWorkerMs: Number(summarize(breakdowns.map((breakdown) => breakdown.overheadPerWorkerMs)).median.toFixed(1)),
    overheadPerWorkerRuns: breakdowns.map((breakdown) => Number(breakdown.overheadPerWorkerMs.toFixed(1))),
  };
}

export async function rollingRestarts(entry, ctx) {
  const { settings, loads, progress } = ctx;
  const port = await freePort();
  const system = entry.make(port);
  progress(`[1] ${entry.label}: starting`);
  await system.start();
  const load = loads.start({ port, durationMs: 120_000 });
  await sleep(settings.steadyMs);
  // The first second is the workers' JIT warming up: not steady state.
  const steady = [1_000, load.now()];
  const memory = { primaryRss: rssOf(system.primaryPid()), workerRss: system.workerPids().map(rssOf) };
  const rollouts = [];
  for (let index = 0; index < settings.rollouts; index += 1) {
    rollouts.push(await rollout(entry, system, load, index, ctx));
    await sleep(settings.gapMs);
  }
  const result = await load.stop();
  await system.stop();
  const windows = rollouts.map((entry) => entry.window);
  return {
    system: entry.label,
    key: entry.key,
    batchSize: entry.batchSize ?? 1,
    sent: result.sent,
    ok: result.ok,
    failed: result.failed,
    reasons: result.failures,
    steady: latencyIn(result, [steady]),
    during: latencyIn(result, windows),
    // Each rollout's own latency, for the spread of during beside steady.
    duringEach: windows.map((window) => latencyIn(result, [window])),
    rollouts: rollouts.map(({ ok, durationMs, reported, replaced, before, after, breakdown }) => ({ ok, durationMs, reported, replaced, before, after, breakdown })),
    rolloutMeanMs: Math.round(rollouts.reduce((sum, entry) => sum + entry.durationMs, 0) / rollouts.length),
    breakdown: meanBreakdown(rollouts),
    allReplaced: rollouts.every((entry) => entry.replaced),
    memory,
    chart: { series: result.series, windows },
  };
}

function rolloutRow(row) {
  const parts = row.breakdown
    ? [
        `${row.breakdown.bootUnionMs} ms${row.breakdown.bootSumMs !== row.breakdown.bootUnionMs ? ` (sum ${row.breakdown.bootSumMs} ms)` : ''}`,
        `${row.breakdown.drainWaitMs} ms (each old worker drains ${row.breakdown.drainMeanMs} ms)`,
        `${row.breakdown.overheadPerWorkerMs} ms (runs: ${row.breakdown.overheadPerWorkerRuns.join(', ')})`,
      ]
    : ['n/a', 'n/a', 'n/a'];
  const replaced = row.allReplaced ? 'yes' : `no (${row.rollouts.filter((entry) => !entry.replaced).length} of ${row.rollouts.length} rollouts left old pids)`;
  return `| ${row.system} | ${row.sent.toLocaleString('en-US')} | ${failedCell(row.failed, row.reasons)} | ${ms(row.steady.p50)} / ${ms(row.steady.p99)} | ${ms(row.during.p50)} / ${ms(row.during.p99)} | ${row.rolloutMeanMs} ms | ${parts.join(' | ')} | ${replaced} |`;
}

export function rolloutSection(rows, settings) {
  const lines = [`## 1. ${settings.rollouts} rolling restarts under steady load`, ''];
  lines.push("| system | requests | failed (why) | p50 / p99 steady | p50 / p99 during rollouts | rollout (mean) | booting replacements | waiting for drains | supervisor's own, per replaced worker | every worker replaced |");
  lines.push('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const row of rows) lines.push(row.error ? errorRow(row) : rolloutRow(row));
  lines.push(
    '',
    'rollout: as the supervisor measured it (zdt reload prints it; the bare primary reports it over IPC); for PM2 the time `pm2 reload` took, its CLI start-up included (PM2 reports no duration).',
    "The rest, for zero-downtime, from the supervisor's own events (`--log-format json`, its clock), mean over the rollouts: booting replacements is the time some replacement was between its fork and ready (the sum of each one's fork-to-ready time beside it when they overlap, at batch 2); waiting for drains is the time no replacement was booting while an old worker was still draining (the next replacement is forked while the previous old worker drains; the rollout ends when the last old worker has exited); what is left is the supervisor's own work, divided by the workers replaced (the median of the rollouts, each rollout's figure beside it). Batch 2 starts both replacements at once.",
    '',
  );
  return lines;
}

const fixed = (value) => (Number.isFinite(value) ? value.toFixed(2) : 'n/a');

/** `12 ms (8.1–15 ms)`: the median of the rollouts with their extremes. */
function spreadMs(values) {
  const summary = summarize(values);
  return summary.n ? `${ms(summary.median)} (${ms(summary.min)}–${ms(summary.max)})` : 'n/a';
}

/** `1.42x (1.10–1.95x)`: each rollout's figure over steady state, the median with the extremes. */
function spreadRatio(values, steady) {
  const summary = summarize(values.map((value) => value / steady));
  return summary.n ? `${fixed(summary.median)}x (${fixed(summary.min)}–${fixed(summary.max)}x)` : 'n/a';
}

/** Rollouts that predate duringEach have their whole-run figure only: one value, no spread. */
const eachRollout = (row) => row.duringEach ?? [row.during];

/** Latency through the rollouts beside steady state, for every system of the same run (issue: what a deploy feels like). */
export function latencySection(rows, settings) {
  const measured = rows.filter((row) => !row.error);
  if (!measured.length) return [];
  const lines = [`## 1b. Latency during the ${settings.rollouts} rolling restarts beside steady state`, ''];
  lines.push('| system | p50 steady | p50 during (each rollout: median, min–max) | p50 during / steady | p99 steady | p99 during (each rollout) | p99 during / steady |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of measured) {
    const each = eachRollout(row);
    const p50 = each.map((entry) => entry.p50);
    const p99 = each.map((entry) => entry.p99);
    lines.push(
      `| ${row.system} | ${ms(row.steady.p50)} | ${spreadMs(p50)} | ${spreadRatio(p50, row.steady.p50)} | ${ms(row.steady.p99)} | ${spreadMs(p99)} | ${spreadRatio(p99, row.steady.p99)} |`,
    );
  }
  lines.push(
    '',
    `The same run and clients as table 1: steady state is the ${((settings.steadyMs - 1_000) / 1000).toFixed(1)} s before the first rollout (after a second of warm-up); each rollout's window runs from its reload command to the end of the rollout. Each figure during is the median of the rollouts with their extremes, each ratio the rollout's figure over steady state.`,
    '',
  );
  return lines;
}
