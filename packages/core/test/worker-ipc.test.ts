import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { killTracked, request } from '@zero-downtime/testkit';
import { Fixture, ipcVerb } from './worker-harness.js';

afterEach(killTracked);

describe('worker IPC with the supervisor (protocol messages, no supervisor code)', () => {
  it('greets, answers pings, reports ready; after an uncaught exception asks to be replaced and keeps serving until shutdown', async () => {
    const worker = new Fixture('worker-app.cjs', {
      ipc: true,
      env: { ZDT_SUPERVISED: '1', ZDT_DRAIN_TIMEOUT_MS: '30000', IDLE_GRACE_MS: '100' },
    });
    expect((await worker.waitForEvent('ipc', ipcVerb('hello'))).message).toEqual({ zdt: 'hello', pid: worker.pid, version: '0.1.0' });
    const port = await worker.port();
    await worker.waitForEvent('ipc', ipcVerb('ready'));

    worker.child.send({ zdt: 'ping', seq: 7 });
    const pong = (await worker.waitForEvent('ipc', ipcVerb('pong'))).message as { seq: number; rss: number };
    expect(pong.seq).toBe(7);
    expect(pong.rss).toBeGreaterThan(0);

    const thrown = request(port, { path: '/throw' });
    // The error summary lets the supervisor name the cause (a worker that is not ready yet failed to boot).
    expect((await worker.waitForEvent('ipc', ipcVerb('replace'))).message).toEqual({
      zdt: 'replace',
      reason: 'uncaught exception: handler failure on purpose',
      error: { name: 'Error', message: 'handler failure on purpose' },
    });
    // Still serving (the supervisor starts the replacement first), but no longer ready.
    const agent = new http.Agent({ keepAlive: true });
    expect(await request(port, { agent })).toMatchObject({ status: 200, connection: 'keep-alive' });
    agent.destroy();
    expect(await request(port, { path: '/ready' })).toMatchObject({ status: 503, body: '{"status":"draining"}' });
    expect(await request(port, { path: '/live' })).toMatchObject({ status: 200 });
    expect(JSON.parse((await request(port, { path: '/state' })).body)).toEqual({ state: 'replacing', draining: false });

    worker.child.send({ zdt: 'shutdown', reason: 'replace' });
    expect((await worker.waitForEvent('ipc', ipcVerb('draining'))).message).toEqual({ zdt: 'draining', reason: 'replace' });
    expect((await worker.waitForEvent('ipc', ipcVerb('drained'))).message).toMatchObject({ zdt: 'drained', clean: true, cut: 0 });
    // Clean drain, but an uncaught exception happened: the exit status says so.
    expect(await worker.waitForExit()).toEqual({ code: 1, signal: null });
    expect(await thrown).toMatchObject({ status: 500, connection: 'close' });
  });

  it('under PM2 (pm_id set, not supervised) sends the bare "ready" string and no zero-downtime messages', async () => {
    const worker = new Fixture('worker-app.cjs', { ipc: true, env: { pm_id: '3', IDLE_GRACE_MS: '100' } });
    await worker.waitForEvent('ipc', (event) => event.message === 'ready');
    worker.child.send('shutdown');
    expect(await worker.waitForExit()).toEqual({ code: 0, signal: null });
    expect(worker.events.filter((event) => event.event === 'ipc').map((event) => event.message)).toEqual(['ready']);
  });
});
