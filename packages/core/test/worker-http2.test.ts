import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { killTracked, within } from '@zero-downtime/testkit';
import { Fixture } from './worker-harness.js';

afterEach(killTracked);

interface StreamOutcome {
  status?: number;
  body: string;
  error?: string;
  rstCode?: number;
}

/** One request on an open session; resolves with what happened to the stream (never rejects). */
function send(session: http2.ClientHttp2Session, path: string): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    const outcome: StreamOutcome = { body: '' };
    const stream = session.request({ ':path': path });
    stream.setEncoding('utf8');
    stream.on('response', (headers) => (outcome.status = Number(headers[':status'])));
    stream.on('data', (chunk: string) => (outcome.body += chunk));
    stream.on('error', (error: Error) => (outcome.error = error.message));
    stream.on('close', () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) outcome.rstCode = stream.rstCode;
      resolve(outcome);
    });
    stream.end();
  });
}

describe('HTTP/2 server under the drain', () => {
  it('answers every stream open at the drain start with 200, sends GOAWAY to every session, closes them and exits 0', async () => {
    const app = new Fixture('worker-http2.cjs');
    const port = await app.port();
    const busy = http2.connect(`http://127.0.0.1:${port}`);
    const idle = http2.connect(`http://127.0.0.1:${port}`);
    busy.on('error', () => {});
    idle.on('error', () => {});
    const goaways = { busy: [] as number[], idle: [] as number[] };
    busy.on('goaway', (code: number) => goaways.busy.push(code));
    idle.on('goaway', (code: number) => goaways.idle.push(code));
    const busyClosed = new Promise((resolve) => busy.once('close', resolve));
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));
    // The idle session has served one stream and stays open; the busy one has several streams in flight.
    expect(await send(idle, '/')).toMatchObject({ status: 200, body: String(app.pid) });
    const inFlight = Array.from({ length: 6 }, (_, index) => send(busy, `/slow?ms=${800 + index * 50}`));
    await within(new Promise((resolve) => busy.ping(resolve)), 5_000, 'ping round trip (streams received)');

    process.kill(app.pid, 'SIGTERM');
    await app.waitForEvent('drain-start');
    const outcomes = await within(Promise.all(inFlight), 15_000, 'streams in flight');
    const failed = outcomes.filter((outcome) => outcome.status !== 200);
    console.log(`HTTP/2 drain: streams sent ${outcomes.length + 1}, failed ${failed.length}, 503 ${outcomes.filter((o) => o.status === 503).length}, reset ${outcomes.filter((o) => o.rstCode !== undefined).length}`);
    expect(outcomes).toEqual(outcomes.map(() => ({ status: 200, body: String(app.pid) })));
    await within(Promise.all([busyClosed, idleClosed]), 15_000, 'sessions closed by the server');
    // Each session got a GOAWAY, and only with NO_ERROR (node may repeat it as the session closes).
    for (const codes of [goaways.busy, goaways.idle]) {
      expect(codes.length).toBeGreaterThan(0);
      expect(new Set(codes)).toEqual(new Set([http2.constants.NGHTTP2_NO_ERROR]));
    }
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    expect((await app.waitForEvent('cleanup')).report).toMatchObject({ reason: 'SIGTERM', clean: true, cut: 0, inFlightAtStart: 6 });
  });
});
