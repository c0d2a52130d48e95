// pnpm bench: this project's supervisor (with each adapter) beside a bare
// node:cluster primary and PM2 reload, on the same machine, app and load.
// Progress goes to stderr; the markdown tables to stdout; the same figures to
// bench/results/latest.json and the rollout chart to bench/results/rollout.svg.
//
//   node bench/bench.mjs [--quick] [--workers N] [--clients N] [--only 1,2,3,4,5,6] [--systems zdt,bare,pm2]
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BUCKET_MS,
  cleanUp,
  cpuTimeMs,
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

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    workers: { type: 'string', default: '2' },
    clients: { type: 'string', default: '16' },
    only: { type: 'string', default: '1,2,3,4,5,6' },
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
  throughputMs: 1_000,
  throughputRounds: flags.quick ? 3 : 6,
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
    list.push({
      label: `zero-downtime + ${framework}`,
      key: `zdt-${framework.replace(':', '-')}`,
      app: apps[framework],
      env,
      make: (port) =>
        zdtSupervisor({ name: `zero-downtime + ${framework}`, app: apps[framework], workers: settings.workers, port, env, drainTimeoutMs: settings.killTimeoutMs }),
    });
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

/**
 * The floor of a rollout: forking and booting `count` replacements one after the
 * other (as a one-at-a-time rollout must), timed by a plain cluster primary in a
 * process of its own (systems/floor.mjs), under the same load as the rollouts.
 */
async function measureFloor(app, env, count) {
  const scratch = makeScratch('floor');
  const port = await freePort();
  const floor = startProcess(path.join(benchDir, 'systems', 'floor.mjs'), [app, String(count)], {
    ipc: true,
    what: 'rollout floor',
    env: { ...process.env, ...env, PORT: String(port), BENCH_RELEASE_FILE: scratch.releaseFile },
  });
  try {
    const message = await new Promise((resolve, reject) => {
      floor.child.once('message', resolve);
      floor.child.once('exit', (code) => reject(new Error(`floor measurement exited with ${code}\n${floor.output.join('\n')}`)));
    });
    return message.totalMs;
  } finally {
    await stopProcess(floor.pid, { signal: 'SIGKILL', graceMs: 1_000 });
  }
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
  const floors = [];
  for (let index = 0; index < settings.rollouts; index += 1) {
    const before = system.workerPids();
    const from = load.now();
    const reload = await system.reload();
    const to = load.now();
    const { after, replaced } = await waitReplaced(system, before);
    rollouts.push({ ok: reload.ok, durationMs: Math.round(reload.durationMs), reported: reload.reported, window: [from, to], before, after, replaced });
    // One floor per rollout, taken right after it under the same load, so both see the same machine.
    floors.push(await measureFloor(entry.app, entry.env, settings.workers));
    progress(
      `[1] ${entry.label}: rollout ${index + 1} ${reload.ok ? 'ok' : 'FAILED'} in ${Math.round(reload.durationMs)} ms (floor ${Math.round(floors.at(-1))} ms), replaced: ${replaced}, failed so far: ${load.progress().failed}`,
    );
    await sleep(settings.gapMs);
  }
  const floorMs = floors.reduce((sum, floor) => sum + floor, 0) / floors.length;
  const result = await load.stop();
  await system.stop();
  const windows = rollouts.map((rollout) => rollout.window);
  const meanDuration = rollouts.reduce((sum, rollout) => sum + rollout.durationMs, 0) / rollouts.length;
  return {
    system: entry.label,
    key: entry.key,
    sent: result.sent,
    ok: result.ok,
    failed: result.failed,
    reasons: result.failures,
    steady: latencyIn(result, [steady]),
    during: latencyIn(result, windows),
    rollouts: rollouts.map(({ ok, durationMs, reported, replaced, before, after }) => ({ ok, durationMs, reported, replaced, before, after })),
    rolloutMeanMs: Math.round(meanDuration),
    floorMs: Math.round(floorMs),
    floorRatio: Number((meanDuration / floorMs).toFixed(2)),
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
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/**
 * Throughput of servers that are all up at once, measured in short runs taken in
 * turn (the order alternating each round), so that whatever else the machine does
 * falls on every contender alike. Each run gives requests/s and the CPU time the
 * server processes spent per request; the medians are reported.
 */
async function compareThroughput(contenders) {
  const runs = contenders.map(() => []);
  for (const contender of contenders) await measureThroughput({ port: contender.port, connections: 32, durationMs: 1_000 });
  for (let round = 0; round < settings.throughputRounds; round += 1) {
    const order = contenders.map((_, index) => index);
    if (round % 2) order.reverse();
    for (const index of order) {
      const { port, pids } = contenders[index];
      const cpuBefore = pids().reduce((sum, pid) => sum + cpuTimeMs(pid), 0);
      const result = await measureThroughput({ port, connections: 32, durationMs: settings.throughputMs });
      const cpuAfter = pids().reduce((sum, pid) => sum + cpuTimeMs(pid), 0);
      runs[index].push({ rps: result.rps, cpuPerRequestUs: ((cpuAfter - cpuBefore) * 1000) / Math.max(1, result.ok) });
    }
  }
  return runs.map((list) => ({
    rps: Math.round(median(list.map((run) => run.rps))),
    cpuPerRequestUs: Number(median(list.map((run) => run.cpuPerRequestUs)).toFixed(1)),
    runs: list.map((run) => ({ rps: run.rps, cpuPerRequestUs: Number(run.cpuPerRequestUs.toFixed(1)) })),
  }));
}

async function throughputAndMemory() {
  const contenders = [];
  if (hasSupervisor) {
    contenders.push({
      key: 'zdt',
      label: 'zero-downtime supervisor',
      make: (port) => zdtSupervisor({ name: 'zero-downtime supervisor', app: apps.plain, workers: settings.workers, port }),
    });
  }
  if (wantedSystems.has('bare')) contenders.push({ key: 'bare', label: 'bare node:cluster', make: (port) => bareCluster({ app: apps.plain, workers: settings.workers, port }) });
  if (wantedSystems.has('pm2')) contenders.push({ key: 'pm2', label: 'PM2 cluster', make: (port) => pm2Cluster({ app: apps.plain, workers: settings.workers, port }) });
  progress(`[4] ${contenders.map((contender) => contender.label).join(', ')}: throughput, ${settings.throughputRounds} rounds`);
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
    progress(`[4] ${framework}: alone beside with zero-downtime, ${settings.throughputRounds} rounds`);
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
        ratio: Number((adapted.rps / bare.rps).toFixed(3)),
        bareCpuUs: bare.cpuPerRequestUs,
        adapterCpuUs: adapted.cpuPerRequestUs,
        cpuRatio: Number((adapted.cpuPerRequestUs / bare.cpuPerRequestUs).toFixed(3)),
        bareRss: rssOf(pair[0].server.pid),
        adapterRss: rssOf(pair[1].server.pid),
        runs: { bare: bare.runs, adapter: adapted.runs },
      });
    } finally {
      for (const { server } of pair) await stopProcess(server.pid, { signal: 'SIGTERM', graceMs: 3_000 });
    }
  }
  const both = byKey.zdt && byKey.bare;
  return {
    clusters,
    supervisorVsBare: both ? Number((byKey.zdt.rps / byKey.bare.rps).toFixed(3)) : null,
    supervisorVsBareCpu: both ? Number((byKey.zdt.cpuPerRequestUs / byKey.bare.cpuPerRequestUs).toFixed(3)) : null,
    frameworks,
  };
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
    push('| system | requests | failed (why) | p50 / p99 steady | p50 / p99 during rollouts | rollout (mean) | floor | ratio | every worker replaced |');
    push('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const row of results.rollouts) {
      if (row.error) {
        push(errorRow(row));
        continue;
      }
      push(
        `| ${row.system} | ${row.sent.toLocaleString('en-US')} | ${failedCell(row.failed, row.reasons)} | ${ms(row.steady.p50)} / ${ms(row.steady.p99)} | ${ms(row.during.p50)} / ${ms(row.during.p99)} | ${row.rolloutMeanMs} ms | ${row.floorMs} ms | ${row.floorRatio}x | ${row.allReplaced ? 'yes' : `no (${row.rollouts.filter((rollout) => !rollout.replaced).length} of ${row.rollouts.length} rollouts left old pids)`} |`,
      );
    }
    push(
      '',
      'rollout: as the supervisor measured it (zdt reload prints it; the bare primary reports it over IPC); for PM2 the time `pm2 reload` took, its CLI start-up included (PM2 reports no duration).',
      'floor: time to fork and boot the replacements one after the other, measured by a plain cluster primary in its own process right after each rollout, under the same load (mean). A rollout also waits for the last old worker to finish draining.',
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
    const { clusters, supervisorVsBare, frameworks } = results.throughput;
    push('## 4. Throughput of a trivial route', '');
    push('| system | requests/s | ratio | server CPU per request | ratio |');
    push('| --- | ---: | ---: | ---: | ---: |');
    const bare = clusters.find((entry) => entry.key === 'bare');
    const us = (value) => `${value} µs`;
    for (const entry of clusters) {
      const ratios = bare ? [`${(entry.rps / bare.rps).toFixed(3)}x bare`, `${(entry.cpuPerRequestUs / bare.cpuPerRequestUs).toFixed(3)}x bare`] : ['', ''];
      push(`| ${entry.label} (${settings.workers} workers, plain node:http app) | ${entry.rps.toLocaleString('en-US')} | ${ratios[0]} | ${us(entry.cpuPerRequestUs)} | ${ratios[1]} |`);
    }
    for (const entry of frameworks) {
      push(`| ${entry.framework} alone (1 process) | ${entry.bareRps.toLocaleString('en-US')} | | ${us(entry.bareCpuUs)} | |`);
      push(`| ${entry.framework} + zero-downtime (1 process) | ${entry.adapterRps.toLocaleString('en-US')} | ${entry.ratio}x bare | ${us(entry.adapterCpuUs)} | ${entry.cpuRatio}x bare |`);
    }
    push(
      '',
      `GET /ping over 32 keep-alive connections; the contenders of each comparison run side by side and are measured in turn, ${settings.throughputRounds} runs of ${settings.throughputMs / 1000} s each, medians shown. The load generator runs on the same machine and competes for the CPUs, and so does anything else running: CPU time per request (primary + workers, from /proc) is the steadier measure of overhead.`,
      '',
    );
    push('## 5. Memory (RSS after the throughput runs, plain app)', '');
    push('| system | primary | each worker |');
    push('| --- | ---: | --- |');
    for (const entry of clusters) push(`| ${entry.label} | ${mb(entry.memory.primaryRss)} | ${entry.memory.workerRss.map(mb).join(', ')} |`);
    for (const row of results.rollouts ?? []) if (row.key.startsWith('zdt-') && !row.error) push(`| ${row.system} (app workers) | ${mb(row.memory.primaryRss)} | ${row.memory.workerRss.map(mb).join(', ')} |`);
    push('', 'PM2\'s "primary" is its daemon (God), which also keeps logs and metrics.', '');
  }
  if (results.targets && Object.keys(results.targets.checks).length) {
    push('## Targets (issue 4)', '');
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
    const ratios = zdtRollouts.filter((row) => !row.error).map((row) => row.floorRatio);
    const worst = ratios.length ? Math.max(...ratios) : Number.NaN;
    checks.floor = { target: 'rollout within 1.15x its floor', measured: `worst ${worst}x`, met: worst <= 1.15 };
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
    const worst = Math.min(...throughput.frameworks.map((entry) => entry.ratio));
    const costliest = Math.max(...throughput.frameworks.map((entry) => entry.cpuRatio));
    checks.adapterOverhead = {
      target: 'adapter overhead within 3% of the bare framework',
      measured: `worst ${worst}x requests/s (CPU per request up to ${costliest}x)`,
      met: worst >= 0.97,
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
  if (results.rollouts?.some((row) => !row.error)) {
    const svg = rolloutChart(
      results.rollouts.filter((row) => !row.error).map((row) => ({
        title: row.system,
        subtitle: `${row.failed.toLocaleString('en-US')} failed of ${row.sent.toLocaleString('en-US')} · rollout ${row.rolloutMeanMs} ms (floor ${row.floorMs} ms)`,
        series: row.chart.series,
        windows: row.chart.windows,
      })),
      { title: `Requests/s and failures across ${settings.rollouts} rolling restarts (${settings.workers} workers, ${settings.clients} keep-alive clients)` },
    );
    writeFileSync(path.join(flags.out, 'rollout.svg'), svg);
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
    writeFileSync(path.join(flags.out, 'bad-release.svg'), svg);
  }
  writeFileSync(path.join(flags.out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  progress(`bench done in ${((Date.now() - began) / 1000).toFixed(0)} s; results in ${path.relative(process.cwd(), flags.out)}/`);
}

try {
  await main();
} finally {
  await cleanUp();
}
