/**
 * End to end, per framework: real workers under the supervisor, under a plain
 * node:cluster primary, and alone under SIGTERM, while keep-alive clients
 * send GET and POST requests whose echoes are verified. What must hold: zero
 * failed requests and every worker pid replaced.
 */
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '@zero-downtime/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLoad, type LoadSummary } from './lib/load.js';
import { isAlive, killTracked, track, waitForExit } from './lib/processes.js';

const app = (name: string) => fileURLToPath(new URL(`./fixtures/apps/${name}`, import.meta.url));
const plainPrimary = fileURLToPath(new URL('./fixtures/plain-primary.cjs', import.meta.url));

interface Framework {
  name: string;
  entry: string;
  env?: Record<string, string>;
}

const frameworks: Framework[] = [
  { name: 'express 5', entry: app('express.mjs') },
  { name: 'express 4 (http.createServer)', entry: app('express.mjs'), env: { EXPRESS_VERSION: '4' } },
  { name: 'fastify', entry: app('fastify.mjs') },
  { name: 'nest on platform-express', entry: app('nest.mjs'), env: { NEST_PLATFORM: 'express' } },
  { name: 'nest on platform-fastify', entry: app('nest.mjs'), env: { NEST_PLATFORM: 'fastify' } },
];

const ROLLOUTS = 5;
const totals: Array<{ framework: string; scenario: string; sent: number; failed: number }> = [];
const record = (framework: string, scenario: string, summary: LoadSummary) =>
  totals.push({ framework, scenario, sent: summary.sent, failed: summary.failed });

afterEach(() => killTracked());
afterAll(() => {
  // The figures the closing note quotes: requests sent and failed per framework and scenario.
  console.log(`\nrequests across the end-to-end rollouts\n${totals.map((row) => `${row.framework} | ${row.scenario} | sent ${row.sent} | failed ${row.failed}`).join('\n')}`);
});

async function rollingRestarts(framework: Framework, workers: number) {
  const supervisor = new Supervisor({
    entry: framework.entry,
    env: { ...framework.env },
    workers,
    readyTimeoutMs: 20_000,
    drainTimeoutMs: 10_000,
    logger: false,
  });
  let port = 0;
  supervisor.on('listening', (event: { address: { port: number } }) => {
    port = event.address.port;
  });
  supervisor.on('fork', (event: { pid: number }) => track(event.pid));
  await supervisor.start();
  try {
    expect(port).toBeGreaterThan(0);
    const load = startLoad({ port, clients: 8, maxDurationMs: 100_000 });
    await load.waitForRequests(200);
    const allPids = new Set(supervisor.status().workers.map((worker) => worker.pid));
    for (let round = 0; round < ROLLOUTS; round++) {
      const before = supervisor.status().workers.map((worker) => worker.pid);
      const result = await supervisor.reload();
      const after = supervisor.status().workers.map((worker) => worker.pid);
      expect(result.replaced.map((entry) => entry.oldPid).sort()).toEqual([...before].sort());
      expect(after).toHaveLength(workers);
      for (const pid of after) {
        expect(before).not.toContain(pid);
        expect(allPids.has(pid)).toBe(false);
        allPids.add(pid);
      }
      for (const pid of before) expect(await waitForExit(pid)).toBe(true);
      await load.waitForRequests(100);
    }
    const summary = await load.stop();
    record(framework.name, `${workers} worker${workers > 1 ? 's' : ''}, ${ROLLOUTS} rollouts, supervisor`, summary);
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThan(0);
    // Requests were answered by the new generations, not only by the first one.
    expect(summary.pids.size).toBeGreaterThan(workers);
  } finally {
    await supervisor.stop();
  }
}

describe.each(frameworks)('$name', (framework) => {
  it(`two workers under the supervisor: ${ROLLOUTS} rolling restarts, zero failed requests, every pid replaced`, async () => {
    await rollingRestarts(framework, 2);
  });

  it(`one worker under the supervisor: ${ROLLOUTS} rolling restarts, zero failed requests, every pid replaced`, async () => {
    await rollingRestarts(framework, 1);
  });

  it('under a plain node:cluster primary restarting with worker.disconnect(): rollouts complete, zero failed requests', async () => {
    const primary = fork(plainPrimary, [], {
      env: { ...process.env, ...framework.env, APP: framework.entry, WORKERS: '2' },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    track(primary.pid);
    const messages: Array<{ event: string; port?: number; pids?: number[]; replaced?: Array<{ oldPid: number; newPid: number; exit: { code: number | null; signal: string | null } }> }> = [];
    const next = (event: string) =>
      new Promise<(typeof messages)[number]>((resolve, reject) => {
        const onMessage = (message: (typeof messages)[number]) => {
          if (message.event === event) {
            primary.off('exit', onExit);
            primary.off('message', onMessage);
            resolve(message);
          }
        };
        const onExit = (code: number | null) => reject(new Error(`plain primary exited with ${code} before ${event}`));
        primary.on('message', onMessage);
        primary.once('exit', onExit);
      });
    const listening = await next('listening');
    for (const pid of listening.pids ?? []) track(pid);
    const load = startLoad({ port: listening.port!, clients: 8, maxDurationMs: 100_000 });
    await load.waitForRequests(200);
    for (let round = 0; round < 2; round++) {
      primary.send({ cmd: 'reload' });
      const reloaded = await next('reloaded');
      expect(reloaded.replaced).toHaveLength(2);
      for (const entry of reloaded.replaced!) {
        track(entry.newPid);
        // The old worker finished its drain and exited by itself: not killed.
        expect(entry.exit).toEqual({ code: 0, signal: null });
        expect(isAlive(entry.oldPid)).toBe(false);
      }
      await load.waitForRequests(100);
    }
    const summary = await load.stop();
    record(framework.name, '2 workers, 2 rollouts, plain node:cluster', summary);
    primary.send({ cmd: 'stop' });
    await once(primary, 'exit');
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThan(0);
  });

  it('alone under SIGTERM while clients keep sending: exit 0, no request on an open connection fails', async () => {
    const child = spawn(process.execPath, [framework.entry], {
      env: { ...process.env, ...framework.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(child.pid);
    let output = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        const match = /listening (\d+)/.exec(output);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`app exited with ${code} before listening`)));
    });
    let terminated = false;
    const load = startLoad({ port, clients: 8, maxDurationMs: 60_000, refusedIsExpected: () => terminated });
    await load.waitForRequests(200);
    const exited = once(child, 'exit');
    terminated = true;
    child.kill('SIGTERM');
    const [code, signal] = await exited;
    const summary = await load.stop();
    record(framework.name, 'standalone, SIGTERM', summary);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    // Once the listener is closed new connections are refused (an orchestrator routes elsewhere);
    // every request sent on a connection the server had accepted was answered.
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThan(0);
  });
});
