/**
 * Rolling restarts with zero failed requests, end to end: real workers of every app (plain node:http, node:http with
 * the worker module, every adapter) replaced under load by the supervisor, by a plain node:cluster primary restarting
 * with worker.disconnect(), and by PM2's own reload, while clients send GET and POST requests whose echoes are
 * verified. What must hold: zero failed requests and every worker pid replaced.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '@zero-downtime/core';
import { cleanUp, freePort, isAlive, onCleanup, run, startLoad, startProcess, track, waitFor, type LoadSummary } from '@zero-downtime/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cells, FULL, ROLLOUTS } from './lib/tier.js';
import { appPath, frameworks, nodeHttp, nodeHttpFoundByChannel, type E2eApp } from './lib/apps.js';

const totals: Array<{ app: string; scenario: string; sent: number; failed: number }> = [];
const record = (app: string, scenario: string, summary: LoadSummary) => totals.push({ app, scenario, sent: summary.sent, failed: summary.failed });

afterEach(() => cleanUp());
afterAll(() => {
  // The figures the closing note quotes: requests sent and failed per app and scenario.
  console.log(`\nrequests across the end-to-end rollouts\n${totals.map((row) => `${row.app} | ${row.scenario} | sent ${row.sent} | failed ${row.failed}`).join('\n')}`);
});

// ---------------------------------------------------------------- the supervisor

interface SupervisorCase {
  app: E2eApp;
  workers: number;
  keepAlive: boolean;
  connections: string;
  /** Without the worker module a plain server.close() can still reset a connection it had just accepted: only refusals count. */
  refusalsOnly?: boolean;
}

const KEPT_ALIVE = { keepAlive: true, connections: 'keep-alive' };
const ONE_PER_REQUEST = { keepAlive: false, connections: 'a connection per request' };
const plainApp: E2eApp = { name: 'plain node:http, no worker module', entry: appPath('plain.cjs') };

// Fast tier: each claim once (every adapter through keep-alive rollouts, 1 worker, a connection per request, an app
// without the worker module); the full tier crosses them all.
const supervisorCases: SupervisorCase[] = cells(
  [
    ...[2, 1].flatMap((workers) => [...frameworks, nodeHttp].map((app) => ({ app, workers, ...KEPT_ALIVE }))),
    ...[2, 1].map((workers) => ({ app: nodeHttp, workers, ...ONE_PER_REQUEST })),
    ...[2, 1].map((workers) => ({ app: plainApp, workers, ...ONE_PER_REQUEST, refusalsOnly: true })),
  ],
  (cell) =>
    (cell.workers === 2 && cell.keepAlive && cell.app.name === 'fastify') ||
    (cell.workers === 1 && cell.keepAlive && cell.app === nodeHttp) ||
    (cell.workers === 2 && !cell.keepAlive),
);

describe.each(supervisorCases)('$app.name, $workers worker(s) under the supervisor, $connections', ({ app, workers, keepAlive, connections, refusalsOnly }) => {
  it(`${ROLLOUTS} rolling restarts: ${refusalsOnly ? 'no connection refused' : 'zero failed requests'}, every pid replaced`, async () => {
    const supervisor = new Supervisor({ entry: app.entry, env: { ...app.env }, workers, readyTimeoutMs: 20_000, drainTimeoutMs: 10_000, logger: false });
    let port = 0;
    supervisor.on('listening', (event: { address: { port: number } }) => {
      port ||= event.address.port;
    });
    supervisor.on('fork', (event: { pid: number }) => track(event.pid, 'a worker of the test supervisor'));
    await supervisor.start();
    try {
      expect(port).toBeGreaterThan(0);
      const load = startLoad({ port, clients: 8, keepAlive, durationMs: 100_000 });
      await load.waitForRequests(200);
      const allPids = new Set(supervisor.status().workers.map((worker) => worker.pid));
      let after: number[] = [];
      for (let round = 1; round <= ROLLOUTS; round++) {
        const before = supervisor.status().workers.map((worker) => worker.pid);
        const result = await supervisor.reload();
        after = supervisor.status().workers.map((worker) => worker.pid);
        expect(result.generation).toBe(round);
        expect(result.replaced.map((entry) => entry.oldPid).sort()).toEqual([...before].sort());
        expect(after).toHaveLength(workers);
        for (const pid of after) {
          expect(before).not.toContain(pid);
          expect(allPids.has(pid)).toBe(false);
          allPids.add(pid);
        }
        // reload() resolves only once every old worker is gone.
        expect(before.filter(isAlive)).toEqual([]);
        expect(supervisor.status().workers.every((worker) => worker.generation === round)).toBe(true);
        expect(supervisor.status().lastRollout).toMatchObject({ generation: round, outcome: 'done' });
        await load.waitForRequests(100);
      }
      const summary = await load.stop();
      record(app.name, `${workers} worker${workers > 1 ? 's' : ''}, ${ROLLOUTS} rollouts, supervisor, ${connections}`, summary);
      if (refusalsOnly) {
        expect(summary.failures.ECONNREFUSED).toBeUndefined();
      } else {
        expect(summary.failures).toEqual({});
        expect(summary.failed).toBe(0);
      }
      expect(summary.ok).toBeGreaterThan(0);
      // Requests were answered by the new generations, the last one included, not only by the first one.
      expect(summary.pids.size).toBeGreaterThan(workers);
      expect([...summary.pids].some((pid) => after.includes(pid))).toBe(true);
    } finally {
      await supervisor.stop();
    }
  });
});

// ---------------------------------------------------------------- a plain node:cluster primary

const plainPrimary = fileURLToPath(new URL('./fixtures/plain-primary.cjs', import.meta.url));

interface PrimaryMessage {
  event: string;
  port?: number;
  pids?: number[];
  replaced?: Array<{ oldPid: number; newPid: number; exit: { code: number | null; signal: string | null; exitedAfterDisconnect: boolean } }>;
}

describe.each(cells([nodeHttp, nodeHttpFoundByChannel, ...frameworks], (app) => app === nodeHttpFoundByChannel))('$name under a plain node:cluster primary restarting with worker.disconnect()', (app) => {
  it('3 rollouts complete, each old worker drains and exits by itself, zero failed requests', async () => {
    const primary = startProcess(plainPrimary, [], { ipc: true, what: 'plain node:cluster primary', env: { ...process.env, ...app.env, APP: app.entry, WORKERS: '2' } });
    const next = (event: string) =>
      new Promise<PrimaryMessage>((resolve, reject) => {
        const onMessage = (message: PrimaryMessage) => {
          if (message.event !== event) return;
          primary.child.off('exit', onExit);
          primary.child.off('message', onMessage);
          resolve(message);
        };
        const onExit = (code: number | null) => reject(new Error(`plain primary exited with ${code} before ${event}`));
        primary.child.on('message', onMessage);
        primary.child.once('exit', onExit);
      });
    const listening = await next('listening');
    for (const pid of listening.pids ?? []) track(pid, 'a worker of the plain primary');
    const load = startLoad({ port: listening.port!, clients: 8, durationMs: 100_000 });
    await load.waitForRequests(200);
    let previous = listening.pids ?? [];
    for (let round = 0; round < 3; round++) {
      primary.child.send({ cmd: 'reload' });
      const reloaded = await next('reloaded');
      expect(reloaded.replaced).toHaveLength(2);
      expect(reloaded.replaced!.map((entry) => entry.oldPid).sort()).toEqual([...previous].sort());
      for (const entry of reloaded.replaced!) {
        track(entry.newPid, 'a worker of the plain primary');
        expect(previous).not.toContain(entry.newPid);
        // The old worker finished its drain and exited by itself: not killed.
        expect(entry.exit).toEqual({ code: 0, signal: null, exitedAfterDisconnect: true });
        expect(isAlive(entry.oldPid)).toBe(false);
      }
      previous = reloaded.replaced!.map((entry) => entry.newPid);
      await load.waitForRequests(100);
    }
    const summary = await load.stop();
    record(app.name, '2 workers, 3 rollouts, plain node:cluster', summary);
    primary.child.send({ cmd: 'stop' });
    await primary.exited;
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThan(100);
  });
});

// ---------------------------------------------------------------- PM2

// PM2's own reload (cluster mode, 2 instances), as a user who keeps PM2 but adds the adapter runs it: PM2 starts
// the new worker, then sends SIGINT to the old one, which drains. PM2 runs under a private PM2_HOME, so a user's own
// PM2 is never touched, and its daemon is killed at the end.
const pm2Bin = path.join(path.dirname(createRequire(import.meta.url).resolve('pm2/package.json')), 'bin', 'pm2');

async function pm2WorkerPids(pm2: (...args: string[]) => ReturnType<typeof run>): Promise<number[]> {
  const list = await pm2('jlist');
  const apps = JSON.parse(list.stdout.slice(list.stdout.indexOf('['))) as Array<{ pid: number; pm2_env: { status: string } }>;
  return apps.filter((entry) => entry.pm2_env.status === 'online').map((entry) => entry.pid);
}

// Full tier only: PM2's own daemon and CLI take about 25 s per cell.
if (FULL) describe.each(frameworks.filter((app) => ['express 5', 'fastify', 'nest on platform-express'].includes(app.name)))('$name under PM2 reload', (app) => {
  it('3 reloads of 2 cluster instances: zero failed requests, every pid replaced', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'zdt-pm2-'));
    const pm2 = (...args: string[]) => run(process.execPath, [pm2Bin, ...args], { env: { ...process.env, PM2_HOME: home, PM2_DISCRETE_MODE: 'true' }, timeoutMs: 60_000 });
    const daemonPid = () => (existsSync(path.join(home, 'pm2.pid')) ? Number(readFileSync(path.join(home, 'pm2.pid'), 'utf8')) : 0);
    onCleanup(async () => {
      const daemon = daemonPid();
      await pm2('kill');
      if (daemon && isAlive(daemon)) process.kill(daemon, 'SIGKILL');
      rmSync(home, { recursive: true, force: true });
    });
    const port = await freePort();
    const ecosystem = path.join(home, 'ecosystem.config.json');
    writeFileSync(
      ecosystem,
      JSON.stringify({
        apps: [
          {
            name: 'zdt-e2e',
            script: app.entry,
            exec_mode: 'cluster',
            instances: 2,
            wait_ready: true,
            kill_timeout: 10_000,
            listen_timeout: 20_000,
            autorestart: true,
            env: { ...app.env, PORT: String(port) },
          },
        ],
      }),
    );
    const started = await pm2('start', ecosystem);
    expect(started.code).toBe(0);
    track(daemonPid(), 'PM2 daemon (private PM2_HOME)');
    const pids = await waitFor(async () => {
      const online = await pm2WorkerPids(pm2);
      return online.length === 2 && online;
    }, 'two PM2 instances online', { timeoutMs: 20_000, intervalMs: 200 });
    pids.forEach((pid) => track(pid, 'a PM2 instance'));

    const load = startLoad({ port, clients: 8, durationMs: 100_000 });
    await load.waitForRequests(200);
    const seen = new Set(pids);
    for (let round = 0; round < 3; round++) {
      const reloaded = await pm2('reload', 'zdt-e2e');
      expect(reloaded.code).toBe(0);
      const now = await pm2WorkerPids(pm2);
      expect(now).toHaveLength(2);
      for (const pid of now) {
        expect(seen.has(pid)).toBe(false);
        seen.add(pid);
        track(pid, 'a PM2 instance');
      }
      await load.waitForRequests(100);
    }
    const summary = await load.stop();
    record(app.name, '2 instances, 3 reloads, PM2', summary);
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThan(0);
  });
});
