/**
 * Every trigger leads to the same drain: an uncaught exception, PM2's "shutdown" message, a manual shutdown(), a
 * second signal. (SIGTERM under load: test/standalone-sigterm.e2e.test.ts; a node:cluster primary's disconnect():
 * test/rolling-restart.e2e.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killTracked, request, within } from '@zero-downtime/testkit';
import { Fixture } from './worker-harness.js';

afterEach(killTracked);

describe('every trigger leads to the same drain', () => {
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
