// Scenarios 4 and 5: throughput of a trivial route and memory. The supervisor beside a bare node:cluster primary
// and PM2 (same plain app, same workers), then each framework with its zero-downtime integration beside the bare
// framework, one process each: requests/s and CPU time per request, as medians of paired runs with their spread.
import { freePort, measureThroughput, rssOf, startProcess, stopProcess, waitForHttp } from '@zero-downtime/testkit';
import { FRAMEWORKS, apps } from '../lib/contenders.mjs';
import { cpuTimeNs } from '../lib/cpu.mjs';
import { mb } from '../lib/format.mjs';
import { inTurn } from '../lib/paired.mjs';
import { describeRatio, describeValue, judgeRatio, pairedRatios, summarize } from '../lib/stats.mjs';
import { bareCluster, pm2Cluster, zdtSupervisor } from '../lib/systems.mjs';
import { OVERHEAD_TARGET, THROUGHPUT_MAX_CI_WIDTH } from '../lib/targets.mjs';

/**
 * Throughput of servers that are all up at once, measured in many short runs taken in turn (A B, then B A). Each run
 * gives requests/s and the CPU time the server processes spent per request (nanosecond schedstat counters); each
 * contender is compared with the first by the ratios of runs taken next to each other, whose median and spread are
 * reported.
 */
async function compareThroughput(contenders, { settings, mayExtend }) {
  const runs = contenders.map(() => []);
  for (const contender of contenders) await measureThroughput({ port: contender.port, connections: 32, durationMs: 1_000 });
  /** A contender's CPU per request over the first's, run by run, and whether it tells 3% apart. */
  const cpuRatioOf = (list) => summarize(pairedRatios(runs[0].map((run) => run.cpuPerRequestUs), list.map((run) => run.cpuPerRequestUs)));
  const verdictOf = (cpuRatio) => judgeRatio(cpuRatio, { target: OVERHEAD_TARGET, maxWidth: THROUGHPUT_MAX_CI_WIDTH });
  const undecided = () => runs.slice(1).some((list) => !verdictOf(cpuRatioOf(list)).decided);
  // At least `throughputRounds`; then, while a ratio cannot be decided yet, more rounds in blocks of 20 up to
  // `throughputMaxRounds`: a noisy framework or a busy machine gets more runs, never a figure they cannot support.
  const enough = (round) => round >= settings.throughputRounds && (round - settings.throughputRounds) % 20 === 0 && (!mayExtend() || !undecided());
  await inTurn(contenders.length, { rounds: settings.throughputMaxRounds, enough }, async (index) => {
    const { port, pids } = contenders[index];
    const cpuBefore = pids().reduce((sum, pid) => sum + cpuTimeNs(pid), 0);
    const result = await measureThroughput({ port, connections: 32, durationMs: settings.throughputMs });
    const cpuAfter = pids().reduce((sum, pid) => sum + cpuTimeNs(pid), 0);
    runs[index].push({ rps: result.rps, cpuPerRequestUs: (cpuAfter - cpuBefore) / 1_000 / Math.max(1, result.ok) });
  });
  return runs.map((list) => {
    const cpuRatio = cpuRatioOf(list);
    return {
      rps: Math.round(summarize(list.map((run) => run.rps)).median),
      rpsSpread: summarize(list.map((run) => run.rps)),
      cpuPerRequestUs: Number(summarize(list.map((run) => run.cpuPerRequestUs)).median.toFixed(1)),
      cpuSpread: summarize(list.map((run) => run.cpuPerRequestUs)),
      rpsRatio: summarize(pairedRatios(runs[0].map((run) => run.rps), list.map((run) => run.rps))),
      cpuRatio,
      cpuVerdict: verdictOf(cpuRatio),
      runs: list.map((run) => ({ rps: run.rps, cpuPerRequestUs: Number(run.cpuPerRequestUs.toFixed(2)) })),
    };
  });
}

/** The supervisor, the bare cluster and PM2 side by side; the bare cluster first, the others compared with it. */
async function clusters(ctx) {
  const { settings, systems, hasSupervisor, progress } = ctx;
  const contenders = [];
  const { workers } = settings;
  if (systems.has('bare')) contenders.push({ key: 'bare', label: 'bare node:cluster', make: (port) => bareCluster({ app: apps.plain, workers, port }) });
  if (hasSupervisor) {
    const label = 'zero-downtime supervisor';
    contenders.push({ key: 'zdt', label, make: (port) => zdtSupervisor({ name: label, app: apps.plain, workers, port }) });
  }
  if (systems.has('pm2')) contenders.push({ key: 'pm2', label: 'PM2 cluster', make: (port) => pm2Cluster({ app: apps.plain, workers, port }) });
  progress(`[4] ${contenders.map((contender) => contender.label).join(', ')}: throughput, ${settings.throughputRounds} to ${settings.throughputMaxRounds} rounds of ${settings.throughputMs} ms`);
  const running = [];
  for (const contender of contenders) {
    const port = await freePort();
    const system = contender.make(port);
    await system.start();
    running.push({ ...contender, port, system, pids: () => [system.primaryPid(), ...system.workerPids()] });
  }
  const measured = await compareThroughput(running, ctx);
  const rows = running.map((contender, index) => ({
    key: contender.key,
    label: contender.label,
    ...measured[index],
    memory: { primaryRss: rssOf(contender.system.primaryPid()), workerRss: contender.system.workerPids().map(rssOf) },
  }));
  for (const contender of running) await contender.system.stop();
  return rows;
}

/** One framework alone beside the same framework with its integration, one process each. */
async function frameworkPair(framework, ctx) {
  const { settings, progress } = ctx;
  progress(`[4] ${framework}: alone beside with zero-downtime, ${settings.throughputRounds} to ${settings.throughputMaxRounds} rounds of ${settings.throughputMs} ms`);
  const pair = [];
  for (const adapter of ['0', '1']) {
    const port = await freePort();
    const server = startProcess(process.execPath, [apps[framework]], { what: apps[framework], env: { ...process.env, BENCH_ADAPTER: adapter, PORT: String(port) } });
    pair.push({ port, server, pids: () => [server.pid] });
  }
  try {
    for (const { port } of pair) await waitForHttp(port);
    const [bare, adapted] = await compareThroughput(pair, ctx);
    progress(`[4] ${framework}: CPU per request ${describeRatio(adapted.cpuRatio, adapted.cpuVerdict)}, requests/s ${describeRatio(adapted.rpsRatio)}`);
    return {
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
    };
  } finally {
    for (const { server } of pair) await stopProcess(server.pid, { signal: 'SIGTERM', graceMs: 3_000 });
  }
}

export async function throughputAndMemory(ctx) {
  const rows = await clusters(ctx);
  const frameworks = [];
  for (const framework of FRAMEWORKS) if (ctx.integrationAvailable(framework)) frameworks.push(await frameworkPair(framework, ctx));
  const byKey = Object.fromEntries(rows.map((entry) => [entry.key, entry]));
  const both = byKey.zdt && byKey.bare;
  return {
    clusters: rows,
    supervisorVsBare: both ? Number(byKey.zdt.rpsRatio.median.toFixed(3)) : null,
    supervisorVsBareCpu: both ? Number(byKey.zdt.cpuRatio.median.toFixed(3)) : null,
    frameworks,
  };
}

function throughputTable({ clusters: rows, frameworks }, settings) {
  const lines = ['## 4. Throughput of a trivial route', ''];
  lines.push('| system | requests/s | ratio (median of paired runs, spread) | server CPU per request | ratio (median of paired runs, spread) |');
  lines.push('| --- | ---: | --- | ---: | --- |');
  const us = (summary) => describeValue(summary, 'µs', 2);
  for (const [index, entry] of rows.entries()) {
    const ratios = index === 0 ? ['', ''] : [describeRatio(entry.rpsRatio), describeRatio(entry.cpuRatio, entry.cpuVerdict)];
    lines.push(`| ${entry.label} (${settings.workers} workers, plain node:http app) | ${entry.rps.toLocaleString('en-US')} | ${ratios[0]} | ${us(entry.cpuSpread)} | ${ratios[1]} |`);
  }
  for (const entry of frameworks) {
    const bareRuns = summarize(entry.runs.bare.map((run) => run.cpuPerRequestUs));
    const adapterRuns = summarize(entry.runs.adapter.map((run) => run.cpuPerRequestUs));
    lines.push(`| ${entry.framework} alone (1 process) | ${entry.bareRps.toLocaleString('en-US')} | | ${us(bareRuns)} | |`);
    lines.push(`| ${entry.framework} + zero-downtime (1 process) | ${entry.adapterRps.toLocaleString('en-US')} | ${describeRatio(entry.rpsRatio)} | ${us(adapterRuns)} | ${describeRatio(entry.cpuRatioSpread, entry.cpuVerdict)} |`);
  }
  lines.push(
    '',
    `GET /ping over 32 keep-alive connections; the contenders of each comparison run side by side and are measured in turn (A B, then B A), at least ${settings.throughputRounds} runs of ${settings.throughputMs} ms each, then more in blocks of 20 while a CPU ratio is not yet decided, up to ${settings.throughputMaxRounds}${settings.extendWithinMs ? ` (more only within the first ${settings.extendWithinMs / 60_000} minutes of the run)` : ''}. Each ratio is the median of the ratios of runs taken next to each other, with a 95% confidence interval of that median (order statistics), the interquartile range and the extremes; when the interval is neither wholly at or under ${OVERHEAD_TARGET} nor wholly over it, and wider than ${THROUGHPUT_MAX_CI_WIDTH}, the run cannot tell and says "too noisy to decide" instead of a ratio. CPU time per request (primary + workers, every thread's schedstat counter, in ns) is the steadier measure of overhead: the load generator runs on the same machine and competes for the CPUs, and so does anything else running.`,
    '',
  );
  return lines;
}

/** Tables 4 and 5; `rollouts` adds the primaries of scenario 1's zero-downtime systems (app workers). */
export function throughputSection(results, settings) {
  if (results.throughputError) return ['## 4. and 5. Throughput and memory', '', `**error**: ${results.throughputError}`, ''];
  if (!results.throughput) return [];
  const lines = throughputTable(results.throughput, settings);
  lines.push('## 5. Memory (RSS after the throughput runs, plain app)', '');
  lines.push('| system | primary | each worker |');
  lines.push('| --- | ---: | --- |');
  for (const entry of results.throughput.clusters) lines.push(`| ${entry.label} | ${mb(entry.memory.primaryRss)} | ${entry.memory.workerRss.map(mb).join(', ')} |`);
  for (const row of results.rollouts ?? []) {
    if (row.key.startsWith('zdt-') && !row.key.includes('-batch') && !row.error) lines.push(`| ${row.system} (app workers) | ${mb(row.memory.primaryRss)} | ${row.memory.workerRss.map(mb).join(', ')} |`);
  }
  lines.push('', 'PM2\'s "primary" is its daemon (God), which also keeps logs and metrics.', '');
  return lines;
}
