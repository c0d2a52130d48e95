import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import zeroDowntime from '../src/index.js';

// This file starts the process-wide drain (with exit: false); it stays one test on purpose.
describe('@zero-downtime/fastify with http2: true during a drain', () => {
  it('answers every stream in flight with 200 (no 503), sends GOAWAY to the session, then runs onClose', async () => {
    const events: string[] = [];
    const app = Fastify({ http2: true });
    await app.register(zeroDowntime, { signals: false, exit: false, handleUncaughtExceptions: false, logger: false });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    let allStarted!: () => void;
    const streamsStarted = new Promise<void>((resolve) => (allStarted = resolve));
    app.get('/slow', async () => {
      if (++started === 4) allStarted();
      await released;
      return 'slow';
    });
    app.addHook('onClose', async () => {
      events.push('onClose');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    const goaways: number[] = [];
    session.on('goaway', (code: number) => goaways.push(code));
    const closed = new Promise((resolve) => session.once('close', resolve));
    const outcomes = Array.from({ length: 4 }, () => new Promise<{ status?: number; body: string; rstCode: number }>((resolve) => {
      const outcome = { status: undefined as number | undefined, body: '', rstCode: 0 };
      const stream = session.request({ ':path': '/slow' });
      stream.setEncoding('utf8');
      stream.on('response', (headers) => (outcome.status = Number(headers[':status'])));
      stream.on('data', (chunk: string) => (outcome.body += chunk));
      stream.on('error', () => {});
      stream.on('close', () => resolve({ ...outcome, rstCode: stream.rstCode }));
      stream.end();
    }));
    await streamsStarted;

    const report = app.zeroDowntime.shutdown('test');
    await new Promise((resolve) => setTimeout(resolve, 50).unref());
    expect(events).toEqual([]);
    release();
    const results = await Promise.all(outcomes);
    console.log(`Fastify http2 drain: streams sent ${results.length}, failed ${results.filter((r) => r.status !== 200).length}, 503 ${results.filter((r) => r.status === 503).length}, reset ${results.filter((r) => r.rstCode !== 0).length}`);
    expect(results).toEqual(results.map(() => ({ status: 200, body: 'slow', rstCode: 0 })));
    await closed;
    expect(goaways.length).toBeGreaterThan(0);
    expect(new Set(goaways)).toEqual(new Set([http2.constants.NGHTTP2_NO_ERROR]));
    expect(await report).toMatchObject({ clean: true, cut: 0, inFlightAtStart: 4 });
    expect(events).toEqual(['onClose']);
  });
});
