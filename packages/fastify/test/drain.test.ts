import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import zeroDowntime from '../src/index.js';
import { get } from '@zero-downtime/testkit';

// This file starts the process-wide drain (with exit: false); it stays one test on purpose.
describe('@zero-downtime/fastify during a drain', () => {
  it('flips readiness to 503, closes connections after responses, finishes in-flight work, then runs onClose', async () => {
    const events: string[] = [];
    const logged: Array<{ msg: string }> = [];
    const stream = { write: (line: string) => logged.push(JSON.parse(line) as { msg: string }) };
    const app = Fastify({ logger: { level: 'info', stream } });
    // No logger option: the drain logs through fastify.log.
    await app.register(zeroDowntime, { readinessPath: '/ready', livenessPath: '/live', signals: false, exit: false, handleUncaughtExceptions: false });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const slowStarted = new Promise<void>((resolve) => (started = resolve));
    app.get('/slow', async () => {
      started();
      await released;
      events.push('slow answered');
      return { slow: true };
    });
    app.get('/hello', async () => ({ hello: 'world' }));
    app.addHook('onClose', async () => {
      events.push('onClose');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

    const before = await get(port, '/hello', { agent });
    expect(before.status).toBe(200);
    expect(before.connection).toBe('keep-alive');

    const slow = get(port, '/slow', { agent: new http.Agent({ keepAlive: true }) });
    await slowStarted;
    const drained = app.zeroDowntime.shutdown('test');
    expect(app.zeroDowntime.isDraining()).toBe(true);

    // The in-flight request keeps the drain open: the app is not closed yet, Fastify is not refusing.
    const readiness = await app.inject('/ready');
    expect(readiness.statusCode).toBe(503);
    expect(readiness.json()).toEqual({ status: 'draining' });
    const liveness = await app.inject('/live');
    expect(liveness.statusCode).toBe(200);
    // The keep-alive socket idle at the drain start: its next request is served, with Connection: close (set by
    // core when node starts the request; an inject() has no connection to close).
    const hello = await get(port, '/hello', { agent });
    expect(hello).toMatchObject({ status: 200, connection: 'close', reusedSocket: true });
    expect(events).toEqual([]);

    release();
    const slowResponse = await slow;
    expect(slowResponse.status).toBe(200);
    expect(slowResponse.connection).toBe('close');

    const report = await drained;
    expect(report.reason).toBe('test');
    expect(report.cut).toBe(0);
    expect(events).toEqual(['slow answered', 'onClose']);
    expect(logged.map((entry) => entry.msg)).toEqual(expect.arrayContaining([expect.stringMatching(/draining/)]));
    agent.destroy();
  });
});
