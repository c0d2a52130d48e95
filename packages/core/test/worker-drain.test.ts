import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { killTracked, request, within } from '@zero-downtime/testkit';
import { Fixture, requireFromTestPackage } from './worker-harness.js';

afterEach(killTracked);

/** Opens `count` keep-alive sockets on one agent and leaves them idle in its pool. */
async function idleSockets(port: number, count: number): Promise<http.Agent> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: count });
  await Promise.all(Array.from({ length: count }, () => request(port, { agent, path: '/slow?ms=50' })));
  return agent;
}

describe('worker drain (real process, real sockets)', () => {
  it('flips readiness to 503 while liveness stays 200, serves idle keep-alive sockets with Connection: close, then runs cleanup in order and exits 0', async () => {
    const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '10000', DRAIN_TIMEOUT_MS: '20000' } });
    const port = await app.port();
    const agent = await idleSockets(port, 3);
    const before = await request(port, { agent, path: '/ready' });
    expect(before).toMatchObject({ status: 200, body: '{"status":"ok"}', connection: 'keep-alive' });

    process.kill(app.pid, 'SIGTERM');
    await app.waitForEvent('drain-start');

    // Each request goes out on a socket that was idle when the drain started: served, not reset.
    const readiness = await request(port, { agent, path: '/ready' });
    const liveness = await request(port, { agent, path: '/live' });
    const page = await request(port, { agent });
    expect(readiness).toMatchObject({ status: 503, body: '{"status":"draining"}', connection: 'close', reusedSocket: true });
    expect(liveness).toMatchObject({ status: 200, body: '{"status":"ok"}', connection: 'close', reusedSocket: true });
    expect(page).toMatchObject({ status: 200, connection: 'close', reusedSocket: true });

    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    const cleanups = app.events.filter((event) => event.event === 'cleanup');
    expect(cleanups.map((event) => event.name)).toEqual(['first', 'second', 'third']);
    expect(cleanups.every((event) => event.inFlight === 0)).toBe(true);
    expect(cleanups[0]?.report).toMatchObject({ reason: 'SIGTERM', clean: true, cut: 0, served: 3 });
    agent.destroy();
  });

  it('bounds each cleanup hook: a hook that never settles times out, the next ones still run, the exit status is 1', async () => {
    const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '100', HANGING_HOOK_MS: '300' } });
    await app.port();
    process.kill(app.pid, 'SIGTERM');
    expect(await app.waitForExit()).toEqual({ code: 1, signal: null });
    const cleanups = app.events.filter((event) => event.event === 'cleanup');
    expect(cleanups.map((event) => event.name)).toEqual(['first', 'second', 'third']);
    expect(cleanups[0]?.report).toMatchObject({ clean: true, cut: 0 });
  });

  it('cuts a request slower than the drain deadline and reports it, exiting non-zero', async () => {
    const app = new Fixture('worker-app.cjs', { env: { DRAIN_TIMEOUT_MS: '400', IDLE_GRACE_MS: '100' } });
    const port = await app.port();
    const slow = request(port, { path: '/slow?ms=60000' }).then(
      () => 'answered',
      (error: NodeJS.ErrnoException) => error.code ?? error.message,
    );
    await app.waitForEvent('slow-started');
    process.kill(app.pid, 'SIGTERM');

    expect(await within(slow, 15_000, 'slow request')).toBe('ECONNRESET');
    expect(await app.waitForExit()).toEqual({ code: 1, signal: null });
    const cleanup = await app.waitForEvent('cleanup');
    expect(cleanup.report).toMatchObject({ reason: 'SIGTERM', clean: false, cut: 1 });
  });

  it('hands WebSocket and SSE exchanges to onDrainStart: the WebSocket gets close code 1001', async () => {
    const { WebSocket } = requireFromTestPackage('ws') as typeof import('ws');
    const app = new Fixture('worker-app.cjs', { env: { DRAIN_TIMEOUT_MS: '10000', IDLE_GRACE_MS: '100' } });
    const port = await app.port();
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    await within(
      new Promise((resolve, reject) => {
        socket.once('message', resolve);
        socket.once('error', reject);
      }),
      10_000,
      'WebSocket welcome',
    );
    let opened: () => void = () => {};
    const streamOpened = new Promise<void>((resolve) => (opened = resolve));
    const stream = new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/sse', agent: false }, (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
            opened();
          });
          response.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    await within(streamOpened, 10_000, 'first SSE event');

    process.kill(app.pid, 'SIGTERM');
    expect(await within(closed, 15_000, 'WebSocket close')).toEqual({ code: 1001, reason: 'server draining' });
    expect(await within(stream, 15_000, 'SSE end')).toBe('data: hello\n\ndata: bye\n\n');
    const drainStart = await app.waitForEvent('drain-start');
    expect(drainStart.longLived).toBe(2);
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
  });
});

