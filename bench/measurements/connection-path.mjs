// Scenario 8: the connection path. The app alone, zero-downtime with 1 and with N workers, a bare node:cluster with
// round-robin (the primary accepts and hands each connection over) and with the shared socket (the workers accept),
// and PM2, side by side: requests/s, p99 and the balance between workers, for connection-per-request and keep-alive
// clients, and the primaries' RSS. Every setup is up at once and measured in turn (A B, then B A); the whole set is
// started `pathSets` times so that the spread covers fresh processes as well as drift.
import { freePort, rssOf } from '@zero-downtime/testkit';
import { apps } from '../lib/contenders.mjs';
import { firstLine } from '../lib/format.mjs';
import { inTurn } from '../lib/paired.mjs';
import { CLIENT_KINDS, runPathLoad } from '../lib/path-client.mjs';
import { pairedRatios, summarize } from '../lib/stats.mjs';
import { appAlone, bareCluster, pm2Cluster, zdtSupervisor } from '../lib/systems.mjs';

/** The setups this run can start; `reference` is the key each is compared with (itself for a reference). */
export function pathSetups({ settings, systems, hasSupervisor }) {
  const { workers } = settings;
  const plain = apps.plain;
  const list = [{ key: 'alone', label: 'the app alone (1 process)', workers: 1, reference: 'alone', make: (port) => appAlone({ app: plain, port }) }];
  if (hasSupervisor) {
    for (const count of [1, workers]) {
      const label = `zdt start --workers ${count}`;
      const reference = count === 1 ? 'alone' : 'bare-rr';
      list.push({ key: `zdt-${count}`, label, workers: count, reference, make: (port) => zdtSupervisor({ name: label, app: plain, workers: count, port }) });
    }
  }
  if (systems.has('bare')) {
    for (const [policy, what] of [
      ['rr', 'round-robin'],
      ['none', 'shared socket'],
    ]) {
      const env = { NODE_CLUSTER_SCHED_POLICY: policy };
      list.push({
        key: `bare-${policy}`,
        label: `bare node:cluster, ${what} (NODE_CLUSTER_SCHED_POLICY=${policy}), ${workers} workers`,
        workers,
        reference: 'bare-rr',
        make: (port) => bareCluster({ name: `bare cluster (${policy})`, app: plain, workers, port, env }),
      });
    }
  }
  if (systems.has('pm2')) list.push({ key: 'pm2', label: `PM2 cluster, ${workers} workers`, workers, reference: 'bare-rr', make: (port) => pm2Cluster({ app: plain, workers, port }) });
  // A reference that this run lacks (no bare cluster): the app alone instead.
  for (const setup of list) if (!list.some((other) => other.key === setup.reference)) setup.reference = 'alone';
  return list;
}

/** Every setup started; one that does not start is left out of this set (its error kept), the others still run. */
async function startAll(setups, errors, progress) {
  const running = [];
  for (const setup of setups) {
    const port = await freePort();
    const entry = { setup, port, system: setup.make(port), started: false };
    running.push(entry);
    try {
      await entry.system.start();
      entry.started = true;
    } catch (error) {
      errors.push(`${setup.key}: ${firstLine(error)}`);
      progress(`[8] ${setup.label}: did not start: ${firstLine(error)}`);
    }
  }
  return running;
}

/** One set: every setup started, warmed up, measured `pathRounds` times in turn for each client kind, stopped. */
async function oneSet(setups, set, runs, errors, { settings, progress }) {
  const running = await startAll(setups, errors, progress);
  try {
    const measure = (index, kind, durationMs) =>
      running[index].started ? runPathLoad({ port: running[index].port, kind, clients: settings.pathClients, durationMs }) : undefined;
    // Warm-up: each setup's JIT, and this process's client, before anything is recorded.
    for (const kind of CLIENT_KINDS) for (const index of running.keys()) await measure(index, kind, Math.min(500, settings.pathRunMs));
    const first = set * settings.pathRounds;
    await inTurn(running.length * CLIENT_KINDS.length, { firstRound: first, rounds: first + settings.pathRounds }, async (slot, round) => {
      const index = slot % running.length;
      const kind = CLIENT_KINDS[Math.floor(slot / running.length)];
      const result = await measure(index, kind, settings.pathRunMs);
      if (!result) return;
      runs[setups[index].key][kind][round] = { rps: result.rps, p50: result.p50, p99: result.p99, failed: result.failed, reasons: result.reasons, busiestShare: result.busiestShare, connectionsByPid: result.connectionsByPid };
      // The primary's memory after its last run of the round (each run writes over the one before).
      runs[setups[index].key].primaryRss[round] = rssOf(running[index].system.primaryPid());
    });
    progress(`[8] set ${set + 1} of ${settings.pathSets}: ${setups.map((setup) => `${setup.key} ${runs[setup.key]['per-request'].at(-1)?.rps}/${runs[setup.key]['keep-alive'].at(-1)?.rps} rps`).join(', ')}`);
  } finally {
    for (const { system } of running) await system.stop().catch((error) => errors.push(`stopping: ${firstLine(error)}`));
  }
}

const compact = (summary) => ({ n: summary.n, median: summary.median, q1: summary.q1, q3: summary.q3, min: summary.min, max: summary.max, ciLow: summary.ciLow, ciHigh: summary.ciHigh });

/** A setup's figures for one client kind, its ratios paired round by round with its reference's runs. */
function kindFigures(own, reference) {
  const field = (list, name) => list.map((run) => run?.[name]);
  return {
    rps: compact(summarize(field(own, 'rps'))),
    p50: compact(summarize(field(own, 'p50'))),
    p99: compact(summarize(field(own, 'p99'))),
    rpsRatio: compact(summarize(pairedRatios(field(reference, 'rps'), field(own, 'rps')))),
    p99Ratio: compact(summarize(pairedRatios(field(reference, 'p99'), field(own, 'p99')))),
    busiestShare: compact(summarize(field(own, 'busiestShare'))),
    failed: own.reduce((sum, run) => sum + (run?.failed ?? 0), 0),
    runs: own,
  };
}

/** The primary's RSS, and its difference from the reference primary's round by round (in bytes). */
function memoryFigures(own, reference) {
  const hasPrimary = own.some((value) => value != null);
  if (!hasPrimary) return null;
  const paired = reference.some((value) => value != null);
  return {
    primaryRss: compact(summarize(own)),
    overReference: paired ? compact(summarize(own.map((value, round) => value - reference[round]))) : null,
    ratioToReference: paired ? compact(summarize(pairedRatios(reference, own))) : null,
    runs: own,
  };
}

export async function connectionPath(ctx) {
  const { settings, progress } = ctx;
  const setups = pathSetups(ctx);
  const rounds = settings.pathSets * settings.pathRounds;
  progress(`[8] ${setups.map((setup) => setup.key).join(', ')}: ${rounds} rounds of ${settings.pathRunMs} ms per client kind, ${settings.pathClients} clients, ${settings.pathSets} sets`);
  const runs = Object.fromEntries(setups.map((setup) => [setup.key, { 'per-request': [], 'keep-alive': [], primaryRss: [] }]));
  const errors = [];
  for (let set = 0; set < settings.pathSets; set += 1) await oneSet(setups, set, runs, errors, ctx);
  return {
    errors,
    clients: settings.pathClients,
    runMs: settings.pathRunMs,
    rounds,
    sets: settings.pathSets,
    setups: setups.map((setup) => {
      const reference = runs[setup.reference];
      const kinds = Object.fromEntries(CLIENT_KINDS.map((kind) => [kind, kindFigures(runs[setup.key][kind], reference[kind])]));
      return { key: setup.key, label: setup.label, workers: setup.workers, reference: setup.reference, ...kinds, memory: memoryFigures(runs[setup.key].primaryRss, runs['bare-rr']?.primaryRss ?? []) };
    }),
  };
}
