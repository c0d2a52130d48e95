import { afterEach, describe, expect, it } from 'vitest';
import { delay, Fixture, killStarted, request, startLoad, within } from './worker-harness.js';

afterEach(killStarted);

describe('every trigger leads to the same drain', () => {
  it('a plain node:cluster primary restarting with worker.disconnect() completes under keep-alive load with zero failed requests', async () => {
    const primary = new Fixture('worker-cluster-primary.cjs', {
      ipc: true,
      env: { WORKERS: '2', IDLE_GRACE_MS: '1000', DRAIN_TIMEOUT_MS: '8000' },
    });
    const listening = await primary.waitForEvent('primary-listening');
    const port = listening.port as number;
    const load = startLoad(() => port, 8);
    let previous = listening.workers as number[];
    for (let round = 1; round <= 3; round += 1) {
      await delay(300);
      primary.child.send('restart');
      const restarted = await primary.waitForEvent('restarted', (event) => primary.events.filter((seen) => seen.event === 'restarted').indexOf(event) === round - 1, 60_000);
      const exits = restarted.exits as Array<{ pid: number; code: number; exitedAfterDisconnect: boolean }>;
      expect(exits.map((exit) => exit.pid).sort()).toEqual([...previous].sort());
      expect(exits.every((exit) => exit.code === 0 && exit.exitedAfterDisconnect)).toBe(true);
      const workers = restarted.workers as number[];
      expect(workers.some((pid) => previous.includes(pid))).toBe(false);
      previous = workers;
    }
    await delay(300);
    const result = await load.stop();
    expect(result.failed).toEqual([]);
    expect(result.refused).toBe(0);
    expect(result.succeeded).toBeGreaterThan(100);
    primary.child.kill('SIGKILL');
    // The primary's workers exit when its channel drops; kill any that has not, by pid.
    for (const pid of previous) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });

  it('standalone SIGTERM while clients keep sending: zero failed requests, exit 0', async () => {
    const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '1000', DRAIN_TIMEOUT_MS: '8000' } });
    const port = await app.port();
    const load = startLoad(() => port, 8);
    await delay(500);
    const sentBefore = load.result.sent;
    process.kill(app.pid, 'SIGTERM');
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    const result = await load.stop();
    // Alone, once the process stops listening nothing can accept a new connection: those attempts are refused before
    // sending a byte (a load balancer would go elsewhere). What was sent must not fail.
    expect(result.failed).toEqual([]);
    expect(sentBefore).toBeGreaterThan(0);
    const cleanup = await app.waitForEvent('cleanup');
    expect(cleanup.report).toMatchObject({ reason: 'SIGTERM', clean: true, cut: 0 });
  });

  it('an uncaught exception in one handler does not fail a concurrent request; the worker drains and exits 1', async () => {
    const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '100', DRAIN_TIMEOUT_MS: '10000' } });
    const port = await app.port();
    const slow = request(port, { path: '/slow?ms=700' });
    await app.waitForEvent('slow-started');
    const thrown = request(port, { path: '/throw' });
    expect(await within(slow, 15_000, 'concurrent request')).toMatchObject({ status: 200, body: 'slow done', connection: 'close' });
    // The request whose handler threw synchronously is answered 500 on a closing connection instead of hanging.
    expect(await within(thrown, 15_000, 'throwing request')).toMatchObject({ status: 500, connection: 'close' });
    expect(await app.waitForExit()).toEqual({ code: 1, signal: null });
    const cleanup = await app.waitForEvent('cleanup');
    expect(cleanup.report).toMatchObject({ reason: 'uncaughtException', clean: true, cut: 0, served: 2 });
  });

  it('PM2: the "shutdown" message drains, and a manual shutdown() drains the same way', async () => {
    const viaMessage = new Fixture('worker-app.cjs', { ipc: true, env: { pm_id: '0', IDLE_GRACE_MS: '100' } });
    await viaMessage.port();
    viaMessage.child.send('shutdown');
    expect(await viaMessage.waitForExit()).toEqual({ code: 0, signal: null });
    expect((await viaMessage.waitForEvent('drain-start')).reason).toBe('shutdown message');

    const manual = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '100' } });
    const port = await manual.port();
    expect(await request(port, { path: '/shutdown' })).toMatchObject({ status: 200, body: 'ok' });
    expect(await manual.waitForExit()).toEqual({ code: 0, signal: null });
    expect((await manual.waitForEvent('drain-start')).reason).toBe('manual');
  });

  it('a second signal forces the exit while a drain is still waiting', async () => {
    const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '100', DRAIN_TIMEOUT_MS: '60000' } });
    const port = await app.port();
    const slow = request(port, { path: '/slow?ms=60000' }).catch(() => 'failed');
    await app.waitForEvent('slow-started');
    process.kill(app.pid, 'SIGINT');
    await app.waitForEvent('drain-start');
    process.kill(app.pid, 'SIGINT');
    expect(await app.waitForExit()).toEqual({ code: 130, signal: null });
    expect(await within(slow, 15_000, 'slow request')).toBe('failed');
  });
});
