import https from 'node:https';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { killTracked, pidOf, request, within } from '@zero-downtime/testkit';
import { Fixture } from './worker-harness.js';

afterEach(killTracked);

describe('https server under the drain', () => {
  it('serves the next request of an idle keep-alive socket with Connection: close, closes a connection that never sent one, exits 0', async () => {
    const app = new Fixture('worker-https.cjs', { env: { IDLE_GRACE_MS: '2000', DRAIN_TIMEOUT_MS: '4000' } });
    const port = await app.port();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await request(port, { agent, secure: true });
    expect(first).toMatchObject({ status: 200, connection: 'keep-alive' });
    expect(pidOf(first)).toBe(app.pid);
    const silent = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await within(new Promise((resolve, reject) => silent.once('secureConnect', resolve).once('error', reject)), 10_000, 'tls handshake');
    const silentClosed = new Promise((resolve) => silent.once('close', resolve));
    silent.on('error', () => {});

    process.kill(app.pid, 'SIGTERM');
    await app.waitForEvent('drain-start');
    const ready = await request(port, { agent, secure: true, path: '/ready' });
    expect(ready).toMatchObject({ status: 503, body: '{"status":"draining"}', connection: 'close', reusedSocket: true });
    await within(silentClosed, 15_000, 'connection that never sent a request');
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    expect((await app.waitForEvent('cleanup')).report).toMatchObject({ reason: 'SIGTERM', clean: true, cut: 0, served: 1 });
    agent.destroy();
  });
});
