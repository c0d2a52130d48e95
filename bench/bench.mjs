// pnpm bench: this project's supervisor (with each adapter) beside a bare
// node:cluster primary and PM2 reload, on the same machine, app and load.
// Progress goes to stderr; the markdown tables to stdout; the same figures to
// bench/results/latest.json and the rollout chart to bench/results/rollout.svg.
//
//   node bench/bench.mjs [--quick] [--workers N] [--clients N] [--only 1,2,3,4,5,6,7] [--systems zdt,bare,pm2]
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BUCKET_MS,
  cleanUp,
  freePort,
  installSignalCleanup,
  isAlive,
  latencyIn,
  measureThroughput,
  rssOf,
  run,
  startLoad,
  startProcess,
  stopProcess,
  track,
  waitFor,
  waitForExit,
  waitForHttp,
  zdt,
  zdtStart,
} from '@zero-downtime/testkit';
import { bareCluster, pm2Cluster, zdtSupervisor, appsDir, benchDir, makeScratch } from './lib/systems.mjs';
import { rolloutChart } from './lib/chart.mjs';
import { cpuTimeNs } from './lib/cpu.mjs';
import { logRecords, rolloutBreakdown } from './lib/rollout-breakdown.mjs';
import { describeRatio, describeValue, judgeRatio, pairedRatios, summarize } from './lib/stats.mjs';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    workers: { type: 'string', default: '2' },
    clients: { type: 'string', default: '16' },
    only: { type: 'string', default: '1,2,3,4,5,6,7' },
    systems: { type: 'string', default: 'zdt,bare,pm2' },
    out: { type: 'string', default: path.join(benchDir, 'results') },
  },
});
const settings = {
  quick: flags.quick,
  workers: Number(flags.workers),
  clients: Number(flags.clients),
  rollouts: flags.quick ? 2 : 3,
  steadyMs: flags.quick ? 1_500 : 2_500,
  gapMs: 1_000,
  // Many short runs taken in turn: the spread of their paired ratios says how far a figure can be trusted.
  throughputMs: 400,
  throughputRounds: flags.quick ? 16 : 60,
  throughputMaxRounds: flags.quick ? 16 : 240,
  microRounds: flags.quick ? 82 : 205,
  microMaxRounds: flags.quick ? 205 : 697,
  killTimeoutMs: 5_000,
  cpus: os.availableParallelism(),
  node: process.version,
};
const scenarios = new Set(flags.only.split(',').map((entry) => entry.trim()));
const wantedSystems = new Set(flags.systems.split(',').map((entry) => entry.trim()));

const progress = (...parts) => process.stderr.write(`${parts.join(' ')}\n`);

// Loads still running when a scenario breaks are stopped before the next system starts.
const activeLoads = new Set();
function trackedLoad(options) {
  const handle = startLoad({ clients: settings.clients, bodyBytes: 256, requestTimeoutMs: 10_000, ...options });
  activeLoads.add(handle);
  handle.done.finally(() => activeLoads.delete(handle));
  return handle;
}
async function stopLoads() {
  await Promise.all([...activeLoads].map((handle) => handle.stop()));
}
installSignalCleanup();

const apps = {
  plain: path.join(appsDir, 'plain.cjs'),
  'node:http': path.join(appsDir, 'plain.cjs'),
  express: path.join(appsDir, 'express.mjs'),
  fastify: path.join(appsDir, 'fastify.mjs'),
  nest: path.join(appsDir, 'nest.mjs'),
};

/** The supervisor row exists only when the real supervisor is built: nothing is faked. */
async function supervisorAvailable() {
  try {
    const core = await import('@zero-downtime/core');
    return typeof core.Supervisor === 'function';
  } catch {
    return false;
  }
}

/**
 * An adapter counts as available when its built package exports something. Checked
 * in a child process: loading an adapter loads core's worker side, which would
 * install its signal and exception handlers in this process.
 */
async function adapterAvailable(framework) {
  const probe = `import('@zero-downtime/${framework}').then((m) => process.exit(Object.keys(m).length ? 0 : 1), () => process.exit(1))`;
  return (await run(process.execPath, ['-e', probe], { cwd: benchDir })).code === 0;
}

const hasSupervisor = wantedSystems.has('zdt') && (await supervisorAvailable());
const adapters = {};
for (const framework of ['express', 'fastify', 'nest']) adapters[framework] = hasSupervisor && (await adapterAvailable(framework));
if (!hasSupervisor && wantedSystems.has('zdt')) progress('! @zero-downtime/core has no Supervisor yet: its rows are left out');

const FRAMEWORKS = ['node:http', 'express', 'fastify', 'nest'];
/** node:http needs only core's worker side; the frameworks need their adapter built. */
const integrationAvailable = (framework) => (framework === 'node:http' ? hasSupervisor : adapters[framework]);

function rolloutSystems() {
  const list = [];
  for (const framework of FRAMEWORKS) {
    if (!integrationAvailable(framework)) continue;
    const env = { BENCH_ADAPTER: '1' };
    for (const batchSize of [1, 2]) {
      const label = `zero-downtime + ${framework}${batchSize > 1 ? `, batch ${batchSize}` : ''}`;
      list.push({
        label,
        key: `zdt-${framework.replace(':', '-')}${batchSize > 1 ? `-batch${batchSize}` : ''}`,
        app: apps[framework],
        env,
        batchSize,
        // The rollout scenario only: the others need one row per framework.
        rolloutOnly: batchSize > 1,
        make: (port) =>
          zdtSupervisor({ name: label, app: apps[framework], workers: settings.workers, port, env, drainTimeoutMs: settings.killTimeoutMs, batchSize }),
      });
    }
  }
  if (wantedSystems.has('bare')) {
    list.push({
      label: 'bare node:cluster',
      key: 'bare',
      app: apps.plain,
      env: {},
      make: (port) => bareCluster({ app: apps.plain, workers: settings.workers, port, killTimeoutMs: settings.killTimeoutMs }),
    });
  }
  if (wantedSystems.has('pm2')) {
    list.push({
      label: 'PM2 reload',
      key: 'pm2',
      app: apps.plain,
      env: { BENCH_PM2_GRACEFUL: '1' },
      make: (port) => pm2Cluster({ app: apps.plain, workers: settings.workers, port, killTimeoutMs: settings.killTimeoutMs }),
    });
  }
  return list;
}

function countBy(reasons) {
  const entries = Object.entries(reasons);
  return entries.length ? entries.map(([reason, count]) => `${count} ${reason}`).join(', ') : '';
}

/**
 * Milliseconds of 100 ms buckets in which requests failed and none succeeded: the
 * service was down. (A bucket with neither is a slow moment on a busy machine.)
 */
function downtimeMs(series) {
  let down = 0;
  for (const slot of series) if (slot.ok === 0 && slot.failed > 0) down += 1;
  return down * BUCKET_MS;
}

async function waitReplaced(system, before) {
  try {
    await waitFor(() => before.every((pid) => !isAlive(pid)), 'old workers to exit', { timeoutMs: settings.killTimeoutMs + 2_000 });
  } catch {
    // reported below as "not replaced"
  }
  const after = system.workerPids();
  return { after, replaced: before.every((pid) => !after.includes(pid)) && after.length >= settings.workers };
}

/**
 * This process's load generator starts cold; without a warm-up the first system
 * measured would pay for its JIT. Two seconds against a throwaway plain server.
 */
async function warmUpLoadGenerator() {
  const port = await freePort();
  const server = startProcess(process.execPath, [apps.plain], { what: 'warm-up server', env: { ...process.env, PORT: String(port) } });
  try {
    await waitForHttp(port);
    await trackedLoad({ port, durationMs: 2_000 }).done;
  } finally {
    await stopProcess(server.pid, { signal: 'SIGKILL', graceMs: 1_000 });
  }
}

// ---------------------------------------------------------------- scenario 1
async function rollingRestarts(entry) {
  const port = await freePort();
  const system = entry.make(port);
  progress(`[1] ${entry.label}: starting`);
  await system.start();
  const load = trackedLoad({ port, durationMs: 120_000 });
  await sleep(settings.steadyMs);
  // The first second is the workers' JIT warming up: not steady state.
  const steady = [1_000, load.now()];
  const memory = { primaryRss: rssOf(system.primaryPid()), workerRss: system.workerPids().map(rssOf) };
  const rollouts = [];
  for (let index = 0; index < settings.rollouts; index += 1) {
    const before = system.workerPids();
    const from = load.now();
    const reload = await system.reload();
    const to = load.now();
    const { after, replaced } = await waitReplaced(system, before);
    // Where the time went, from the supervisor's own events (zero-downtime only: the others report none).
    const breakdown = system.logLines
      ? await waitFor(() => rolloutBreakdown(logRecords(system.logLines()), index + 1), 'the rollout in the supervisor log', { timeoutMs: 3_000 }).catch(() => undefined)
      : undefined;
    rollouts.push({ ok: reload.ok, durationMs: Math.round(reload.durationMs), reported: reload.reported, window: [from, to], before, after, replaced, breakdown });
    const parts = breakdown
      ? ` (booting ${breakdown.bootUnionMs} ms, waiting for drains ${breakdown.drainWaitMs} ms, supervisor ${breakdown.overheadMs} ms)`
      : '';
    progress(
      `[1] ${entry.label}: rollout ${index + 1} ${reload.ok ? 'ok' : 'FAILED'} in ${Math.round(reload.durationMs)} ms${parts}, replaced: ${replaced}, failed so far: ${load.progress().failed}`,
    );
    await sleep(settings.gapMs);
  }
  const result = await load.stop();
  await system.stop();
  const windows = rollouts.map((rollout) => rollout.window);
  const meanDuration = rollouts.reduce((sum, rollout) => sum + rollout.durationMs, 0) / rollouts.length;
  const breakdowns = rollouts.map((rollout) => rollout.breakdown).filter(Boolean);
  const mean = (field) => (breakdowns.length === rollouts.length ? breakdowns.reduce((sum, breakdown) => sum + breakdown[field], 0) / breakdowns.length : null);
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
    rollouts: rollouts.map(({ ok, durationMs, reported, replaced, before, after, breakdown }) => ({ ok, durationMs, reported, replaced, before, after, breakdown })),
    rolloutMeanMs: Math.round(meanDuration),
    breakdown: breakdowns.length === rollouts.length
      ? {
          bootSumMs: Math.round(mean('bootSumMs')),
          bootUnionMs: Math.round(mean('bootUnionMs')),
          drainMeanMs: Math.round(mean('drainMeanMs')),
          drainWaitMs: Math.round(mean('drainWaitMs')),
          overheadMs: Math.round(mean('overheadMs')),
          // The median of the rollouts: one slow moment of a busy machine must not move it.
          overheadPerWorkerMs: Number(summarize(breakdowns.map((breakdown) => breakdown.overheadPerWorkerMs)).median.toFixed(1)),
          overheadPerWorkerRuns: breakdowns.map((breakdown) => Number(breakdown.overheadPerWorkerMs.toFixed(1))),
        }
      : null,
    allReplaced: rollouts.every((rollout) => rollout.replaced),
    memory,
    chart: { series: result.series, windows },
  };
}

// ---------------------------------------------------------------- scenario 2
async function badRelease(entry) {
  const port = await freePort();
  const system = entry.make(port);
  progress(`[2] ${entry.label}: starting, then deploying a release that throws at boot`);
  await system.start();
  const load = trackedLoad({ port, durationMs: 120_000 });
  await sleep(1_500);
  const before = system.workerPids();
  system.scratch.setRelease('bad');
  const from = load.now();
  const reload = await system.reload({ timeoutMs: 45_000 });
  const to = load.now();
  await sleep(2_000);
  const after = system.workerPids();
  let answering = false;
  try {
    await waitForHttp(port, { timeoutMs: 1_000 });
    answering = true;
  } catch {
    answering = false;
  }
  const result = await load.stop();
  system.scratch.setRelease('good');
  await system.stop();
  const down = downtimeMs(result.series);
  progress(`[2] ${entry.label}: failed ${result.failed}, down ${down} ms, reported: ${reload.reported}`);
  return {
    system: entry.label,
    key: entry.key,
    sent: result.sent,
    failed: result.failed,
    reasons: result.failures,
    downMs: down,
    stayedUp: down === 0 && answering,
    answeringAfter: answering,
    reloadOk: reload.ok,
    reported: reload.reported,
    reloadMs: Math.round(reload.durationMs),
    oldWorkersLeft: before.filter((pid) => after.includes(pid)).length,
    workersAfter: after.length,
    chart: { series: result.series, windows: [[from, to]] },
  };
}

// ---------------------------------------------------------------- scenario 3
async function killNine(entry) {
  const port = await freePort();
  const system = entry.make(port);
  progress(`[3] ${entry.label}: kill -9 of a worker under load`);
  await system.start();
  const load = trackedLoad({ port, durationMs: 120_000 });
  await sleep(1_500);
  const before = system.workerPids();
  const victim = before[0];
  const killedAt = Date.now();
  process.kill(victim, 'SIGKILL');
  let replacementMs = null;
  try {
    const event = await waitFor(() => system.scratch.readyEvents().find((ready) => ready.at >= killedAt && !before.includes(ready.pid)), 'a replacement worker', {
      timeoutMs: 20_000,
      intervalMs: 5,
    });
    replacementMs = event.at - killedAt;
  } catch {
    replacementMs = null;
  }
  await sleep(1_500);
  const result = await load.stop();
  await system.stop();
  progress(`[3] ${entry.label}: replacement ready after ${replacementMs} ms, failed ${result.failed}`);
  return { system: entry.label, key: entry.key, sent: result.sent, failed: result.failed, reasons: result.failures, replacementMs };
}

// ---------------------------------------------------------------- scenario 6
/** The longest run of 100 ms buckets inside `windows` in which no request succeeded, in ms. */
function longestPauseMs(series, windows) {
  let longest = 0;
  for (const [from, to] of windows) {
    let run = 0;
    for (let bucket = Math.floor(from / BUCKET_MS); bucket <= Math.floor(to / BUCKET_MS) && bucket < series.length; bucket += 1) {
      run = series[bucket].ok === 0 ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
  }
  return longest * BUCKET_MS;
}

/**
 * Replacing the supervisor itself (a new zdt or Node.js): `zdt upgrade` with the sockets the supervisor owns
 * (`--listen`), beside what a `systemctl restart` does (SIGTERM, wait for the exit, `zdt start` again), under the
 * same load, the plain app with its one-line integration.
 */
async function supervisorReplacement(how) {
  const label = how === 'upgrade' ? 'zdt upgrade (--listen)' : 'stop and start (systemctl restart)';
  const scratch = makeScratch(`replace-${how}`);
  const control = path.join(scratch.dir, 'zdt.sock');
  const port = await freePort();
  const args = [apps['node:http'], '--workers', String(settings.workers), '--drain-timeout', `${settings.killTimeoutMs}ms`, '--control', control];
  if (how === 'upgrade') args.push('--listen', `127.0.0.1:${port}`);
  const env = { BENCH_ADAPTER: '1', PORT: String(port), BENCH_RELEASE_FILE: scratch.releaseFile, BENCH_EVENTS_FILE: scratch.eventsFile };
  const start = async () => {
    const running = zdtStart(args, { what: label, cwd: scratch.dir, env });
    await running.waitForLine(/supervisor pid \d+ running/, 60_000);
    return running;
  };
  const supervisorPid = async () => {
    const status = await zdt(['status', '--json', '--control', control]);
    const pid = JSON.parse(status.stdout).pid;
    track(pid, label);
    return pid;
  };
  progress(`[6] ${label}: starting`);
  let running = await start();
  const load = trackedLoad({ port, durationMs: 120_000 });
  await sleep(settings.steadyMs);
  const steps = [];
  for (let index = 0; index < settings.rollouts; index += 1) {
    const before = await supervisorPid();
    const from = load.now();
    const began = Date.now();
    let ok;
    if (how === 'upgrade') {
      const result = await zdt(['upgrade', '--control', control], { cwd: scratch.dir });
      ok = result.code === 0;
    } else {
      await stopProcess(running.pid, { signal: 'SIGTERM', graceMs: settings.killTimeoutMs + 5_000 });
      running = await start();
      ok = true;
    }
    const durationMs = Date.now() - began;
    const to = load.now();
    ok &&= await waitForExit(before, settings.killTimeoutMs + 5_000);
    const after = await supervisorPid();
    steps.push({ ok: ok && after !== before, durationMs, window: [from, to] });
    progress(`[6] ${label}: ${index + 1} ${ok ? 'ok' : 'FAILED'} in ${durationMs} ms, supervisor ${before} -> ${after}, failed so far: ${load.progress().failed}`);
    await sleep(settings.gapMs);
  }
  const result = await load.stop();
  const last = await supervisorPid();
  await zdt(['stop', '--control', control]);
  await waitForExit(last, settings.killTimeoutMs + 5_000);
  const windows = steps.map((step) => step.window);
  return {
    system: label,
    key: `replace-${how}`,
    sent: result.sent,
    failed: result.failed,
    reasons: result.failures,
    longestPauseMs: longestPauseMs(result.series, windows),
    meanMs: Math.round(steps.reduce((sum, step) => sum + step.durationMs, 0) / steps.length),
    allReplaced: steps.every((step) => step.ok),
    during: latencyIn(result, windows),
  };
}

// ---------------------------------------------------------------- scenario 4 + 5
/** What CPU per request and requests/s must show for an integration to count as costing nothing. */
const OVERHEAD_TARGET = 1.03;
/** Across processes over the network: a confidence interval wider than this cannot tell 3% apart. */
const THROUGHPUT_MAX_CI_WIDTH = 0.06;
/** In one process: it must tell 3% apart. */
const MICRO_MAX_CI_WIDTH = 0.03;

/**
 * Throughput of servers that are all up at once, measured in many short runs taken in turn (A B, then B A), so
 * that whatever else the machine does falls on every contender alike. Each run gives requests/s and the CPU time
 * the server processes spent per request (nanosecond schedstat counters); each contender is compared with the
 * first by the ratios of runs taken next to each other, whose median and spread are reported.
 */
async function compareThroughput(contenders) {
  const runs = contenders.map(() => []);
  for (const contender of contenders) await measureThroughput({ port: contender.port, connections: 32, durationMs: 1_000 });
  /** A contender's CPU per request over the first's, run by run, and whether it tells 3% apart. */
  const cpuRatioOf = (list) => summarize(pairedRatios(runs[0].map((run) => run.cpuPerRequestUs), list.map((run) => run.cpuPerRequestUs)));
  const verdictOf = (cpuRatio) => judgeRatio(cpuRatio, { target: OVERHEAD_TARGET, maxWidth: THROUGHPUT_MAX_CI_WIDTH });
  const undecided = () => runs.slice(1).some((list) => !verdictOf(cpuRatioOf(list)).decided);
  // At least `throughputRounds`; then, while a ratio cannot be decided yet, more rounds in blocks of 20 up to
  // `throughputMaxRounds`: a noisy framework or a busy machine gets more runs, never a figure they cannot support.
  for (let round = 0; round < settings.throughputMaxRounds; round += 1) {
    if (round >= settings.throughputRounds && (round - settings.throughputRounds) % 20 === 0 && !undecided()) break;
    const order = contenders.map((_, index) => index);
    if (round % 2) order.reverse();
    for (const index of order) {
      const { port, pids } = contenders[index];
      const cpuBefore = pids().reduce((sum, pid) => sum + cpuTimeNs(pid), 0);
      const result = await measureThroughput({ port, connections: 32, durationMs: settings.throughputMs });
      const cpuAfter = pids().reduce((sum, pid) => sum + cpuTimeNs(pid), 0);
      runs[index].push({ rps: result.rps, cpuPerRequestUs: (cpuAfter - cpuBefore) / 1_000 / Math.max(1, result.ok) });
    }
  }
  return runs.map((list) => {
    const rpsRatio = summarize(pairedRatios(runs[0].map((run) => run.rps), list.map((run) => run.rps)));
    const cpuRatio = cpuRatioOf(list);
    return {
      rps: Math.round(summarize(list.map((run) => run.rps)).median),
      rpsSpread: summarize(list.map((run) => run.rps)),
      cpuPerRequestUs: Number(summarize(list.map((run) => run.cpuPerRequestUs)).median.toFixed(1)),
      cpuSpread: summarize(list.map((run) => run.cpuPerRequestUs)),
      rpsRatio,
      cpuRatio,
      cpuVerdict: verdictOf(cpuRatio),
      runs: list.map((run) => ({ rps: run.rps, cpuPerRequestUs: Number(run.cpuPerRequestUs.toFixed(2)) })),
    };
  });
}

async function throughputAndMemory() {
  const contenders = [];
  // The bare cluster first: the others are compared with it.
  if (wantedSystems.has('bare')) contenders.push({ key: 'bare', label: 'bare node:cluster', make: (port) => bareCluster({ app: apps.plain, workers: settings.workers, port }) });
  if (hasSupervisor) {
    contenders.push({
      key: 'zdt',
      label: 'zero-downtime supervisor',
      make: (port) => zdtSupervisor({ name: 'zero-downtime supervisor', app: apps.plain, workers: settings.workers, port }),
    });
  }
  if (wantedSystems.has('pm2')) contenders.push({ key: 'pm2', label: 'PM2 cluster', make: (port) => pm2Cluster({ app: apps.plain, workers: settings.workers, port }) });
  progress(`[4] ${contenders.map((contender) => contender.label).join(', ')}: throughput, ${settings.throughputRounds} to ${settings.throughputMaxRounds} rounds of ${settings.throughputMs} ms`);
  const running = [];
  for (const contender of contenders) {
    const port = await freePort();
    const system = contender.make(port);
    await system.start();
    running.push({ ...contender, port, system, pids: () => [system.primaryPid(), ...system.workerPids()] });
  }
  const measured = await compareThroughput(running);
  const clusters = running.map((contender, index) => ({
    key: contender.key,
    label: contender.label,
    ...measured[index],
    memory: { primaryRss: rssOf(contender.system.primaryPid()), workerRss: contender.system.workerPids().map(rssOf) },
  }));
  for (const contender of running) await contender.system.stop();
  const byKey = Object.fromEntries(clusters.map((entry) => [entry.key, entry]));

  const frameworks = [];
  for (const framework of FRAMEWORKS) {
    if (!integrationAvailable(framework)) continue;
    progress(`[4] ${framework}: alone beside with zero-downtime, ${settings.throughputRounds} to ${settings.throughputMaxRounds} rounds of ${settings.throughputMs} ms`);
    const pair = [];
    for (const adapter of ['0', '1']) {
      const port = await freePort();
      const server = startProcess(process.execPath, [apps[framework]], { what: apps[framework], env: { ...process.env, BENCH_ADAPTER: adapter, PORT: String(port) } });
      pair.push({ port, server, pids: () => [server.pid] });
    }
    try {
      for (const { port } of pair) await waitForHttp(port);
      const [bare, adapted] = await compareThroughput(pair);
      frameworks.push({
        framework,
        bareRps: bare.rps,
        adapterRps: adapted.rps,
        ratio: Number(adapted.rpsRatio.median.toFixed(3)),
        rpsRatio: adapted.rpsRatio,
        bareCpuUs: bare.cpuPerRequestUs,
        adapterCpuUs: adapted.cpuPerRequestUs,
        cpuRatio: Number(adapted.cpuRatio.median.toFixed(3)),
        cpuRatioSpread: adapted.cpuRatio,
        cpuVerdict: adapted.cpuVerdict,
        bareRss: rssOf(pair[0].server.pid),
        adapterRss: rssOf(pair[1].server.pid),
        runs: { bare: bare.runs, adapter: adapted.runs },
      });
      progress(`[4] ${framework}: CPU per request ${describeRatio(adapted.cpuRatio, adapted.cpuVerdict)}, requests/s ${describeRatio(adapted.rpsRatio)}`);
    } finally {
      for (const { server } of pair) await stopProcess(server.pid, { signal: 'SIGTERM', graceMs: 3_000 });
    }
  }
  const both = byKey.zdt && byKey.bare;
  return {
    clusters,
    supervisorVsBare: both ? Number(byKey.zdt.rpsRatio.median.toFixed(3)) : null,
    supervisorVsBareCpu: both ? Number(byKey.zdt.cpuRatio.median.toFixed(3)) : null,
    frameworks,
  };
}

// ---------------------------------------------------------------- scenario 7
/**
 * The per-request path without a network (bench/micro.mjs): each framework alone beside the same framework with its
 * integration, over in-memory connections, CPU time in short batches taken in turn, each side in a process of its
 * own. First the method's noise floor: node:http alone on both sides.
 */
async function microbenchmark() {
  const rows = [];
  const cases = [{ framework: 'node:http', same: true }, ...FRAMEWORKS.filter(integrationAvailable).map((framework) => ({ framework, same: false }))];
  for (const { framework, same } of cases) {
    const label = same ? `${framework} alone on both sides (noise floor)` : framework;
    progress(`[7] ${label}: per-request path without a network, ${settings.microRounds} to ${settings.microMaxRounds} rounds`);
    const args = [path.join(benchDir, 'micro.mjs'), '--framework', framework, '--rounds', String(settings.microRounds), '--max-rounds', String(settings.microMaxRounds), ...(same ? ['--same'] : [])];
    const result = await run(process.execPath, args, { cwd: benchDir, timeoutMs: 300_000 });
    if (result.code !== 0) {
      rows.push({ framework: label, error: (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ') || `exit ${result.code ?? result.signal}` });
      continue;
    }
    const { batchSize, samples } = JSON.parse(result.stdout.trim().split('\n').pop());
    const ratio = summarize(pairedRatios(samples.bare, samples.adapted));
    const verdict = judgeRatio(ratio, { target: OVERHEAD_TARGET, maxWidth: MICRO_MAX_CI_WIDTH });
    rows.push({ framework: label, same, batchSize, bare: summarize(samples.bare), adapted: summarize(samples.adapted), ratio, verdict, samples });
    progress(`[7] ${label}: ${describeRatio(ratio, verdict)}`);
  }
  return rows;
}

// ---------------------------------------------------------------- formatting
const mb = (bytes) => (bytes == null ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(1)} MB`);
const ms = (value) => (value == null ? 'n/a' : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`);
const failedCell = (failed, reasons) => (failed === 0 ? '**0**' : `**${failed.toLocaleString('en-US')}** (${countBy(reasons)})`);

const errorRow = (row) => `| ${row.system} | **error**: ${row.error.replace(/\|/g, '/')} |`;

function markdown(results) {
  const lines = [];
  const push = (...rows) => lines.push(...rows);
  push(`# zero-downtime bench`, '');
  const busy = results.loadAverage;
  push(
    `${settings.workers} workers, ${settings.clients} keep-alive clients (GET /ping and POST /echo in turn, echoed bodies verified), Node ${settings.node}, ${settings.cpus} CPUs, ${new Date().toISOString()}${settings.quick ? ', --quick' : ''}, load average ${busy.atStart[0]} at start and ${busy.atEnd[0]} at the end`,
    '',
  );
  if (!hasSupervisor) push('> The supervisor was not available in this build: its rows are missing, not faked.', '');
  if (results.rollouts) {
    push(`## 1. ${settings.rollouts} rolling restarts under steady load`, '');
    push('| system | requests | failed (why) | p50 / p99 steady | p50 / p99 during rollouts | rollout (mean) | booting replacements | waiting for drains | supervisor\'s own, per replaced worker | every worker replaced |');
    push('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const row of results.rollouts) {
      if (row.error) {
        push(errorRow(row));
        continue;
      }
      const parts = row.breakdown
        ? [
            `${row.breakdown.bootUnionMs} ms${row.breakdown.bootSumMs !== row.breakdown.bootUnionMs ? ` (sum ${row.breakdown.bootSumMs} ms)` : ''}`,
            `${row.breakdown.drainWaitMs} ms (each old worker drains ${row.breakdown.drainMeanMs} ms)`,
            `${row.breakdown.overheadPerWorkerMs} ms (runs: ${row.breakdown.overheadPerWorkerRuns.join(', ')})`,
          ]
        : ['n/a', 'n/a', 'n/a'];
      push(
        `| ${row.system} | ${row.sent.toLocaleString('en-US')} | ${failedCell(row.failed, row.reasons)} | ${ms(row.steady.p50)} / ${ms(row.steady.p99)} | ${ms(row.during.p50)} / ${ms(row.during.p99)} | ${row.rolloutMeanMs} ms | ${parts.join(' | ')} | ${row.allReplaced ? 'yes' : `no (${row.rollouts.filter((rollout) => !rollout.replaced).length} of ${row.rollouts.length} rollouts left old pids)`} |`,
      );
    }
    push(
      '',
      'rollout: as the supervisor measured it (zdt reload prints it; the bare primary reports it over IPC); for PM2 the time `pm2 reload` took, its CLI start-up included (PM2 reports no duration).',
      "The rest, for zero-downtime, from the supervisor's own events (`--log-format json`, its clock), mean over the rollouts: booting replacements is the time some replacement was between its fork and ready (the sum of each one's fork-to-ready time beside it when they overlap, at batch 2); waiting for drains is the time no replacement was booting while an old worker was still draining (the next replacement is forked while the previous old worker drains; the rollout ends when the last old worker has exited); what is left is the supervisor's own work, divided by the workers replaced (the median of the rollouts, each rollout's figure beside it). Batch 2 starts both replacements at once.",
      '',
    );
  }
  if (results.badRelease) {
    push('## 2. A release that throws at boot', '');
    push('| system | requests | failed (why) | service stayed up | what the reload command reported | old workers still serving |');
    push('| --- | ---: | --- | --- | --- | ---: |');
    for (const row of results.badRelease) {
      if (row.error) {
        push(errorRow(row));
        continue;
      }
      const up = row.stayedUp ? 'yes' : `no: no request served for ${(row.downMs / 1000).toFixed(1)} s${row.answeringAfter ? '' : ', down at the end'}`;
      push(`| ${row.system} | ${row.sent.toLocaleString('en-US')} | ${failedCell(row.failed, row.reasons)} | ${up} | ${row.reported.replace(/\|/g, '/')} | ${row.oldWorkersLeft} of ${settings.workers} |`);
    }
    push('');
  }
  if (results.killNine) {
    push('## 3. kill -9 of a worker under load', '');
    push('| system | requests | failed (why) | replacement ready after |');
    push('| --- | ---: | --- | ---: |');
    for (const row of results.killNine) push(row.error ? errorRow(row) : `| ${row.system} | ${row.sent.toLocaleString('en-US')} | ${failedCell(row.failed, row.reasons)} | ${ms(row.replacementMs)} |`);
    push('', 'Requests in flight on the killed worker are lost with any supervisor: kill -9 gives the process no chance to drain.', '');
  }
  if (results.supervisorReplacement) {
    push(`## 6. Replacing the supervisor itself (a new zdt or Node.js), ${settings.rollouts} times`, '');
    push('| how | requests | failed (why) | longest pause | p50 / p99 during | time (mean) | supervisor replaced |');
    push('| --- | ---: | --- | ---: | ---: | ---: | --- |');
    for (const row of results.supervisorReplacement) {
      if (row.error) {
        push(errorRow(row));
        continue;
      }
      push(
        `| ${row.system} | ${row.sent.toLocaleString('en-US')} | ${failedCell(row.failed, row.reasons)} | ${row.longestPauseMs} ms | ${ms(row.during.p50)} / ${ms(row.during.p99)} | ${row.meanMs} ms | ${row.allReplaced ? 'yes' : 'no'} |`,
      );
    }
    push(
      '',
      'longest pause: the longest run of 100 ms buckets, while the supervisor was being replaced, in which no request succeeded. zdt upgrade hands the listening socket to the new supervisor; stop and start is what `systemctl restart` does: every worker drains, the port is closed, and a new `zdt start` binds it again.',
      '',
    );
  }
  if (results.throughputError) push('## 4. and 5. Throughput and memory', '', `**error**: ${results.throughputError}`, '');
  if (results.throughput) {
    const { clusters, frameworks } = results.throughput;
    push('## 4. Throughput of a trivial route', '');
    push('| system | requests/s | ratio (median of paired runs, spread) | server CPU per request | ratio (median of paired runs, spread) |');
    push('| --- | ---: | --- | ---: | --- |');
    const us = (summary) => describeValue(summary, 'µs', 2);
    for (const [index, entry] of clusters.entries()) {
      const ratios = index === 0 ? ['', ''] : [describeRatio(entry.rpsRatio), describeRatio(entry.cpuRatio, entry.cpuVerdict)];
      push(`| ${entry.label} (${settings.workers} workers, plain node:http app) | ${entry.rps.toLocaleString('en-US')} | ${ratios[0]} | ${us(entry.cpuSpread)} | ${ratios[1]} |`);
    }
    for (const entry of frameworks) {
      const bareRuns = summarize(entry.runs.bare.map((run) => run.cpuPerRequestUs));
      const adapterRuns = summarize(entry.runs.adapter.map((run) => run.cpuPerRequestUs));
      push(`| ${entry.framework} alone (1 process) | ${entry.bareRps.toLocaleString('en-US')} | | ${us(bareRuns)} | |`);
      push(`| ${entry.framework} + zero-downtime (1 process) | ${entry.adapterRps.toLocaleString('en-US')} | ${describeRatio(entry.rpsRatio)} | ${us(adapterRuns)} | ${describeRatio(entry.cpuRatioSpread, entry.cpuVerdict)} |`);
    }
    push(
      '',
      `GET /ping over 32 keep-alive connections; the contenders of each comparison run side by side and are measured in turn (A B, then B A), at least ${settings.throughputRounds} runs of ${settings.throughputMs} ms each, then more in blocks of 20 while a CPU ratio is not yet decided, up to ${settings.throughputMaxRounds}. Each ratio is the median of the ratios of runs taken next to each other, with a 95% confidence interval of that median (order statistics), the interquartile range and the extremes; when the interval is neither wholly at or under ${OVERHEAD_TARGET} nor wholly over it, and wider than ${THROUGHPUT_MAX_CI_WIDTH}, the run cannot tell and says "too noisy to decide" instead of a ratio. CPU time per request (primary + workers, every thread's schedstat counter, in ns) is the steadier measure of overhead: the load generator runs on the same machine and competes for the CPUs, and so does anything else running.`,
      '',
    );
    push('## 5. Memory (RSS after the throughput runs, plain app)', '');
    push('| system | primary | each worker |');
    push('| --- | ---: | --- |');
    for (const entry of clusters) push(`| ${entry.label} | ${mb(entry.memory.primaryRss)} | ${entry.memory.workerRss.map(mb).join(', ')} |`);
    for (const row of results.rollouts ?? []) if (row.key.startsWith('zdt-') && !row.key.includes('-batch') && !row.error) push(`| ${row.system} (app workers) | ${mb(row.memory.primaryRss)} | ${row.memory.workerRss.map(mb).join(', ')} |`);
    push('', 'PM2\'s "primary" is its daemon (God), which also keeps logs and metrics.', '');
  }
  if (results.micro) {
    push('## 7. The per-request path without a network (the headline for overhead)', '');
    push('| framework | alone: CPU per request | with zero-downtime | ratio (median of paired batches, spread) |');
    push('| --- | ---: | ---: | --- |');
    for (const row of results.micro) {
      if (row.error) {
        push(`| ${row.framework} | **error**: ${row.error.replace(/\|/g, '/')} | | |`);
        continue;
      }
      push(`| ${row.framework} | ${describeValue(row.bare, 'µs', 2)} | ${describeValue(row.adapted, 'µs', 2)} | ${describeRatio(row.ratio, row.verdict)} |`);
    }
    push(
      '',
      `\`bench/micro.mjs\`: GET /ping over in-memory connections (a pair of Duplex streams handed to each server's 'connection' event: node's real parser, IncomingMessage, ServerResponse and the framework's router; no network, nothing mocked), one batch per side per round (A B, then B A), each batch about 30 ms of CPU time counted by the side itself (\`process.cpuUsage()\`), 41 rounds from each pair of processes, at least ${settings.microRounds} rounds and then more pairs while the confidence interval is wider than ${MICRO_MAX_CI_WIDTH}, up to ${settings.microMaxRounds}. Each side runs in a process of its own under \`node --single-threaded\` (no V8 helper thread adds its work to a batch), so what loading the worker side does to a whole process is in the figure. The first row runs the same bare server on both sides: the ratio two identical processes give. When the 95% confidence interval of the median is neither wholly at or under ${OVERHEAD_TARGET} nor wholly over it, and wider than ${MICRO_MAX_CI_WIDTH}, the run says "too noisy to decide" instead of a ratio.`,
      '',
    );
  }
  if (results.targets && Object.keys(results.targets.checks).length) {
    push('## Targets', '');
    push('| target | measured | met |');
    push('| --- | --- | --- |');
    for (const check of Object.values(results.targets.checks)) push(`| ${check.target} | ${check.measured} | ${check.met ? 'yes' : '**no**'} |`);
    push('');
  }
  return lines.join('\n');
}

function targets(results) {
  const checks = {};
  const zdtRollouts = (results.rollouts ?? []).filter((row) => row.key.startsWith('zdt-'));
  const zdtBad = (results.badRelease ?? []).filter((row) => row.key.startsWith('zdt-'));
  const broken = [...zdtRollouts, ...zdtBad].filter((row) => row.error).length;
  if (zdtRollouts.length) {
    const failed = [...zdtRollouts, ...zdtBad].reduce((sum, row) => sum + (row.failed ?? 0), 0);
    checks.zeroFailed = {
      target: '0 failed requests in every rollout scenario, all adapters',
      measured: `${failed} failed${broken ? `, ${broken} runs broke` : ''}`,
      met: failed === 0 && broken === 0,
    };
    const perWorker = zdtRollouts.filter((row) => !row.error && row.breakdown).map((row) => `${row.system.replace('zero-downtime + ', '')} ${row.breakdown.overheadPerWorkerMs} ms`);
    checks.overhead = {
      target: "the supervisor's own time per replaced worker, reported in ms",
      measured: perWorker.join(', ') || 'n/a',
      met: perWorker.length === zdtRollouts.filter((row) => !row.error).length && perWorker.length > 0,
    };
  }
  if (zdtBad.length) {
    const ok = zdtBad.every((row) => row.stayedUp && !row.reloadOk);
    checks.badRelease = { target: 'bad release refused, old workers keep serving', measured: ok ? 'refused, stayed up' : 'see table 2', met: ok };
  }
  const throughput = results.throughput;
  if (throughput?.supervisorVsBare != null) {
    checks.throughput = {
      target: 'supervisor throughput >= 0.97x bare cluster',
      measured: `${throughput.supervisorVsBare}x requests/s (CPU per request ${throughput.supervisorVsBareCpu}x)`,
      met: throughput.supervisorVsBare >= 0.97,
    };
    const zdt = throughput.clusters.find((entry) => entry.key === 'zdt');
    const bare = throughput.clusters.find((entry) => entry.key === 'bare');
    const delta = (zdt.memory.primaryRss - bare.memory.primaryRss) / 1024 / 1024;
    checks.primaryRss = { target: 'primary RSS within 5 MB of a bare cluster primary', measured: `${delta >= 0 ? '+' : ''}${delta.toFixed(1)} MB`, met: delta <= 5 };
  }
  if (throughput?.frameworks.length) {
    const cells = throughput.frameworks.map((entry) => `${entry.framework} ${describeRatio(entry.cpuRatioSpread, entry.cpuVerdict)}`);
    checks.adapterCpu = {
      target: `CPU per request within ${OVERHEAD_TARGET}x of the bare framework (median of paired runs, decided)`,
      measured: cells.join('; '),
      met: throughput.frameworks.every((entry) => entry.cpuVerdict.decided && entry.cpuVerdict.met),
    };
  }
  if (results.micro?.length) {
    const cells = results.micro.filter((row) => !row.same).map((row) => (row.error ? `${row.framework} error` : `${row.framework} ${describeRatio(row.ratio, row.verdict)}`));
    checks.micro = {
      target: `per-request path without a network within ${OVERHEAD_TARGET}x (median of paired batches, decided)`,
      measured: cells.join('; '),
      met: results.micro.filter((row) => !row.same).every((row) => !row.error && row.verdict.decided && row.verdict.met),
    };
  }
  return { checks };
}

// ---------------------------------------------------------------- main
async function main() {
  const began = Date.now();
  const loadAtStart = os.loadavg().map((value) => Number(value.toFixed(2)));
  const results = { settings, startedAt: new Date().toISOString(), supervisorAvailable: hasSupervisor, adapters };
  const systems = rolloutSystems();
  await warmUpLoadGenerator();
  // A system that breaks in one scenario is reported as such; the others still run.
  const runEach = async (scenario, run) => {
    const rows = [];
    for (const entry of systems) {
      if (entry.rolloutOnly && scenario !== 1) continue;
      try {
        rows.push(await run(entry));
      } catch (error) {
        progress(`[${scenario}] ${entry.label}: ERROR ${error.message}`);
        rows.push({ system: entry.label, key: entry.key, error: error.message.split('\n')[0] });
        await stopLoads();
        await cleanUp();
      }
    }
    return rows;
  };
  if (scenarios.has('1')) results.rollouts = await runEach(1, rollingRestarts);
  if (scenarios.has('2')) results.badRelease = await runEach(2, badRelease);
  if (scenarios.has('3')) results.killNine = await runEach(3, killNine);
  if (scenarios.has('6') && hasSupervisor) {
    results.supervisorReplacement = [];
    for (const how of ['upgrade', 'restart']) {
      try {
        results.supervisorReplacement.push(await supervisorReplacement(how));
      } catch (error) {
        progress(`[6] ${how}: ERROR ${error.message}`);
        results.supervisorReplacement.push({ system: how, key: `replace-${how}`, error: error.message.split('\n')[0] });
        await stopLoads();
        await cleanUp();
      }
    }
  }
  if (scenarios.has('7')) results.micro = await microbenchmark();
  if (scenarios.has('4') || scenarios.has('5')) {
    try {
      results.throughput = await throughputAndMemory();
    } catch (error) {
      progress(`[4] ERROR ${error.message}`);
      results.throughputError = error.message.split('\n')[0];
      await cleanUp();
    }
  }
  results.targets = targets(results);
  results.durationMs = Date.now() - began;
  // Other work on the machine skews every figure: say how busy it was.
  results.loadAverage = { atStart: loadAtStart, atEnd: os.loadavg().map((value) => Number(value.toFixed(2))) };

  const table = markdown(results);
  process.stdout.write(`${table}\n`);
  mkdirSync(flags.out, { recursive: true });
  // A run of some scenarios only, or a quick one, writes beside the complete results instead of over them.
  const complete = !flags.quick && ['1', '2', '3', '4', '5', '6', '7'].every((scenario) => scenarios.has(scenario));
  const prefix = complete ? '' : `partial-${[...scenarios].join('-')}${flags.quick ? '-quick' : ''}-`;
  if (results.rollouts?.some((row) => !row.error)) {
    const svg = rolloutChart(
      results.rollouts.filter((row) => !row.error).map((row) => ({
        title: row.system,
        subtitle: `${row.failed.toLocaleString('en-US')} failed of ${row.sent.toLocaleString('en-US')} · rollout ${row.rolloutMeanMs} ms`,
        series: row.chart.series,
        windows: row.chart.windows,
      })),
      { title: `Requests/s and failures across ${settings.rollouts} rolling restarts (${settings.workers} workers, ${settings.clients} keep-alive clients)` },
    );
    writeFileSync(path.join(flags.out, `${prefix}rollout.svg`), svg);
  }
  if (results.badRelease?.some((row) => !row.error)) {
    const svg = rolloutChart(
      results.badRelease.filter((row) => !row.error).map((row) => ({
        title: row.system,
        subtitle: `${row.failed.toLocaleString('en-US')} failed of ${row.sent.toLocaleString('en-US')} · ${row.stayedUp ? 'stayed up' : `down ${(row.downMs / 1000).toFixed(1)} s`} · ${row.reported.split(',')[0]}`,
        series: row.chart.series,
        windows: row.chart.windows,
      })),
      { title: `Deploying a release that throws at boot (${settings.workers} workers, ${settings.clients} keep-alive clients)`, shading: 'the reload command running' },
    );
    writeFileSync(path.join(flags.out, `${prefix}bad-release.svg`), svg);
  }
  writeFileSync(path.join(flags.out, `${prefix}latest.json`), `${JSON.stringify(results, null, 2)}\n`);
  progress(`bench done in ${((Date.now() - began) / 1000).toFixed(0)} s; results in ${path.relative(process.cwd(), flags.out)}/`);
}

try {
  await main();
} finally {
  await cleanUp();
}
