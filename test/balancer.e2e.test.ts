/**
 * Beyond one machine: the apps behind a real load balancer (HAProxy, health-checking the adapter's readiness path
 * every 500 ms, one failed check marks a server down, no retries), the way a Kubernetes Service and readiness probe
 * route to pods.
 *
 * - A rolling update the way a Deployment does it (maxSurge 1, maxUnavailable 0): three standalone instances of each
 *   adapter's app, replaced one by one. The new instance starts, becomes an endpoint once HAProxy marks it up, then the
 *   old one gets SIGTERM while HAProxy still routes to it, until its next readiness check fails. With the documented
 *   `shutdownDelayMs` (three check intervals) no request fails; without it, the connections HAProxy opens to the old
 *   instance between "stopped listening" and "marked down" are refused, and the clients get 503s: the run measures
 *   and prints them, which is why the setting exists.
 * - Two hosts: two `zdt` supervisors (two machines) behind the balancer, deployed one after the other with `zdt
 *   reload`: no request fails, every worker is replaced, and the balancer never sees a host down.
 *
 * HAProxy comes from scripts/install-haproxy.sh (apt-get) when it is missing; without it these tests fail, never skip.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { childrenOf, cleanUp, freePort, startLoad, startProcess, waitForExit, waitForHttp, zdt, zdtStart, type Exit, type LoadSummary, type StartedProcess } from '@zero-downtime/testkit';
import { appPath, type E2eApp } from './lib/apps.js';
import { CHECK, ensureHaproxy, startBalancer, type Balancer } from './lib/haproxy.js';

/** The setting docs/guides/load-balancers.md recommends: three readiness check intervals. */
const SHUTDOWN_DELAY_MS = 3 * CHECK.intervalMs;
const INSTANCES = 3;
const CLIENTS = 8;
/** Requests through the balancer before the first replacement and after the last. */
const REQUESTS_AROUND = 500;

const adapters: E2eApp[] = [
  { name: 'express', entry: appPath('express.mjs') },
  { name: 'fastify', entry: appPath('fastify.mjs') },
  { name: 'nest', entry: appPath('nest.mjs'), env: { NEST_PLATFORM: 'express' } },
];

let haproxy = '';
let balancer: Balancer | undefined;
const scratch: string[] = [];

beforeAll(() => {
  haproxy = ensureHaproxy();
});

afterEach(async () => {
  await balancer?.stop();
  balancer = undefined;
  await cleanUp();
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

afterAll(() => cleanUp());

interface Instance {
  name: string;
  port: number;
  process: StartedProcess;
}

/** One standalone instance (a pod: `node app` with its adapter), listening on a port of its own. */
async function startInstance(app: E2eApp, name: string, shutdownDelayMs: number): Promise<Instance> {
  const started = startProcess(process.execPath, [app.entry], {
    env: { ...process.env, ...app.env, PORT: '0', SHUTDOWN_DELAY_MS: String(shutdownDelayMs) },
    what: `${app.name} instance ${name}`,
  });
  const port = Number(/listening (\d+)/.exec(await started.waitForLine(/^listening \d+/))![1]);
  return { name, port, process: started };
}

interface Replacement {
  exit: Exit;
  /** What the old instance's cleanup saw: nothing in flight means every request it had accepted was answered. */
  cleanup: { inFlight: number; finished: number };
  /** From SIGTERM to HAProxy marking the old instance down, as polled here. */
  markedDownAfterMs: number;
}

/**
 * Three instances behind the balancer under keep-alive load, replaced one by one as a Deployment rolls pods:
 * start the new one, add it as an endpoint once it is ready (HAProxy marks it up), SIGTERM the old one, which stays
 * an endpoint until HAProxy's check on it fails, and remove it once it has exited.
 */
async function rollingUpdate(app: E2eApp, shutdownDelayMs: number): Promise<{ summary: LoadSummary; replacements: Replacement[]; pids: number[] }> {
  balancer = await startBalancer(haproxy);
  const live: Instance[] = [];
  for (let index = 1; index <= INSTANCES; index += 1) {
    const instance = await startInstance(app, `old-${index}`, shutdownDelayMs);
    await balancer.addServer(instance.name, instance.port);
    live.push(instance);
  }
  const pids = live.map((instance) => instance.process.pid!);

  const load = startLoad({ port: balancer.port, clients: CLIENTS, keepAlive: true, durationMs: 150_000 });
  const replacements: Replacement[] = [];
  try {
    await load.waitForRequests(REQUESTS_AROUND);
    for (let index = 1; index <= INSTANCES; index += 1) {
      const fresh = await startInstance(app, `new-${index}`, shutdownDelayMs);
      pids.push(fresh.process.pid!);
      await balancer.addServer(fresh.name, fresh.port);
      const old = live.shift()!;
      live.push(fresh);

      const signalledAt = Date.now();
      old.process.child.kill('SIGTERM');
      await balancer.waitForDown(old.name);
      const markedDownAfterMs = Date.now() - signalledAt;
      const exit = await old.process.exited;
      const line = await old.process.waitForLine(/^cleanup \{/);
      replacements.push({ exit, cleanup: JSON.parse(line.slice('cleanup '.length)), markedDownAfterMs });
      await balancer.removeServer(old.name);
    }
    await load.waitForRequests(REQUESTS_AROUND);
  } finally {
    await load.stop();
  }
  return { summary: await load.done, replacements, pids };
}

const describeRun = (summary: LoadSummary) => `${summary.sent} requests sent, ${summary.failed} failed ${JSON.stringify(summary.failures)}`;

describe.each(adapters)('$name: a Kubernetes-style rolling update behind HAProxy', (app) => {
  it(`with shutdownDelayMs ${SHUTDOWN_DELAY_MS}: no failed request, every old instance drained and exited 0`, async () => {
    const { summary, replacements, pids } = await rollingUpdate(app, SHUTDOWN_DELAY_MS);
    console.log(
      `[balancer] ${app.name}, shutdownDelayMs ${SHUTDOWN_DELAY_MS}: ${describeRun(summary)}; marked down after SIGTERM (ms): ${replacements.map((replacement) => replacement.markedDownAfterMs).join(', ')}`,
    );

    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThanOrEqual(2 * REQUESTS_AROUND);
    for (const replacement of replacements) {
      expect(replacement.exit).toEqual({ code: 0, signal: null });
      expect(replacement.cleanup.inFlight).toBe(0);
    }
    // Every instance, old and new, answered through the balancer.
    for (const pid of pids) expect(summary.pids).toContain(pid);
  });

  it('without shutdownDelayMs: the requests the balancer sends between "stopped listening" and "marked down" fail', async () => {
    const { summary, replacements } = await rollingUpdate(app, 0);
    console.log(
      `[balancer] ${app.name}, shutdownDelayMs 0: ${describeRun(summary)}; marked down after SIGTERM (ms): ${replacements.map((replacement) => replacement.markedDownAfterMs).join(', ')}`,
    );

    // Each old instance still drained what it had accepted and exited 0: the failures are connections it refused
    // after it stopped listening, while the balancer had not yet seen its readiness fail.
    for (const replacement of replacements) {
      expect(replacement.exit).toEqual({ code: 0, signal: null });
      expect(replacement.cleanup.inFlight).toBe(0);
    }
    // HAProxy answers 503 for each connection the old instance refused (a few clients may instead see their
    // connection closed without an answer, "socket hang up").
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.failures['status 503']).toBeGreaterThan(0);
  });
});

describe.each(adapters)('$name: two hosts behind HAProxy, deployed one after the other', (app) => {
  it('zdt reload on one host, then the other, under load: no failed request, every worker replaced, no host ever down', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'zdt-two-hosts-'));
    scratch.push(dir);
    const hosts = await Promise.all(
      ['host-a', 'host-b'].map(async (name) => {
        const port = await freePort();
        const control = path.join(dir, `${name}.sock`);
        const supervisor = zdtStart([app.entry, '--workers', '2', '--control', control], { env: { ...app.env, PORT: String(port) }, what: `zdt start (${name})` });
        return { name, port, control, supervisor };
      }),
    );
    for (const host of hosts) {
      await Promise.race([
        waitForHttp(host.port, { timeoutMs: 60_000 }),
        host.supervisor.exited.then(({ code }) => {
          throw new Error(`zdt start (${host.name}) exited with ${code}:\n${host.supervisor.output.join('\n')}`);
        }),
      ]);
    }
    balancer = await startBalancer(haproxy);
    for (const host of hosts) await balancer.addServer(host.name, host.port);
    const before = hosts.map((host) => childrenOf(host.supervisor.pid!));

    const load = startLoad({ port: balancer.port, clients: CLIENTS, keepAlive: true, durationMs: 150_000 });
    const reloads = [];
    try {
      await load.waitForRequests(REQUESTS_AROUND);
      for (const host of hosts) {
        reloads.push(await zdt(['reload', '--control', host.control]));
        await load.waitForRequests(REQUESTS_AROUND);
      }
    } finally {
      await load.stop();
    }
    const summary = await load.done;
    const counters = await balancer.checkCounters();
    console.log(`[balancer] ${app.name}, two hosts, zdt reload on each in turn: ${describeRun(summary)}; haproxy checks: ${JSON.stringify(counters)}`);

    for (const reload of reloads) expect(reload.code, reload.stdout + reload.stderr).toBe(0);
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    // The balancer never had to route around a host: every readiness check of both passed.
    expect(counters).toEqual({ 'host-a': { failedChecks: 0, downTransitions: 0 }, 'host-b': { failedChecks: 0, downTransitions: 0 } });
    hosts.forEach((host, index) => {
      const after = childrenOf(host.supervisor.pid!);
      expect(after).toHaveLength(2);
      expect(after.filter((pid) => before[index]!.includes(pid))).toEqual([]);
      // Both hosts' new workers answered through the balancer.
      for (const pid of after) expect(summary.pids).toContain(pid);
    });

    for (const host of hosts) {
      const stop = await zdt(['stop', '--control', host.control]);
      expect(stop.code, stop.stdout + stop.stderr).toBe(0);
      expect(await host.supervisor.exited).toEqual({ code: 0, signal: null });
    }
    for (const pid of before.flat()) expect(await waitForExit(pid, 15_000)).toBe(true);
  });
});
