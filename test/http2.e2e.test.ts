/**
 * HTTP/2 under `zdt start`: plain node:http2, Fastify with `http2: true`, and NestJS on Fastify with `http2: true`,
 * each over cleartext (h2c) and over TLS with ALPN h2 and `allowHTTP1` (HTTP/1.1 clients on the same port at the
 * same time). HTTP/2 clients hold one session each with several streams in flight, back to back; 5 rolling restarts:
 * zero failed requests (no 503, no reset), every worker replaced each time. A stream the old worker never processed
 * (sent while its GOAWAY was on the way) is refused by HTTP/2 itself and sent again, as RFC 9113 §8.7 allows and
 * browsers, curl, Go and gRPC clients do: the figures count those apart.
 */
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cells, FULL, ROLLOUTS } from './lib/tier.js';
import { killTracked, startH2Load, startLoad, startProcess, zdt, zdtStart } from '@zero-downtime/testkit';
import { median, reloadAndCheck, workersOf } from './lib/rollout.js';
import { testCertificate } from '@zero-downtime/testkit/app';

const APP = fileURLToPath(new URL('./fixtures/h2/app.mjs', import.meta.url));
const UNMODIFIED = fileURLToPath(new URL('./fixtures/unmodified/http2.cjs', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-h2-'));
let sockets = 0;
const figures: string[] = [];

afterEach(() => killTracked());
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  const ratio = (app: keyof typeof LABEL, run: string) => {
    const [measured, reference] = [medians.get(`${app} ${run}`), medians.get(`${app} true HTTP/1.1 only`)];
    return measured && reference ? (measured / reference).toFixed(2) : 'n/a';
  };
  const ratios = (['node', 'fastify', 'nest'] as const).map(
    (app) => `${LABEL[app]} h2c ${ratio(app, 'false h2')}x, TLS with both kinds ${ratio(app, 'true h2 and HTTP/1.1')}x`,
  );
  console.log(
    `\nHTTP/2, ${ROLLOUTS} rolling restarts, 2 workers; HTTP/2 clients: 4 sessions x 2 streams back to back; HTTP/1.1: keep-alive clients (4 beside HTTP/2, 8 alone):\n${figures.join('\n')}` +
      `\nrollout median with HTTP/2 clients over the same app's with HTTP/1.1 clients only (TLS): ${ratios.join('; ')}`,
  );
});


type Clients = 'h2' | 'h2 and HTTP/1.1' | 'HTTP/1.1 only';
const LABEL = { node: 'node:http2', fastify: 'fastify http2', nest: 'nest on fastify http2', unmodified: 'node:http2 importing nothing' } as const;
/** Rollout medians by app and clients, for the comparison printed at the end. */
const medians = new Map<string, number>();

/** 5 rolling restarts of the app under load from these clients; asserts zero failed, every worker replaced. */
async function rollingRestarts(app: keyof typeof LABEL, secure: boolean, clients: Clients) {
  const name = `${LABEL[app]} ${secure ? 'TLS (ALPN h2, allowHTTP1)' : 'cleartext h2c'}, ${clients} clients`;
  const control = path.join(scratch, `${++sockets}.sock`);
  const entry = app === 'unmodified' ? UNMODIFIED : APP;
  const running = zdtStart([entry, '--workers', '2', '--control', control], { env: { H2_APP: app, H2_TLS: secure ? '1' : '0' } });
  await running.waitForLine(/supervisor pid \d+ running/);
  const tls = secure ? { ca: testCertificate.cert } : undefined;
  const h2 = clients === 'HTTP/1.1 only' ? undefined : startH2Load({ port: running.port(), sessions: 4, streams: 2, tls, durationMs: 180_000 });
  const h1 = clients === 'h2' ? undefined : startLoad({ port: running.port(), clients: clients === 'HTTP/1.1 only' ? 8 : 4, tls, durationMs: 180_000 });
  await h2?.waitForRequests(50);
  await h1?.waitForRequests(20);
  const durations: number[] = [];
  for (let rollout = 1; rollout <= ROLLOUTS; rollout++) {
    durations.push(await reloadAndCheck(control, rollout));
    await h2?.waitForRequests(50);
    await h1?.waitForRequests(10);
  }
  const h2Summary = await h2?.stop();
  const h1Summary = await h1?.stop();
  const newest = (await workersOf(control)).map((worker) => worker.pid);
  expect(newest.some((pid) => (h2Summary ?? h1Summary)!.pids.has(pid))).toBe(true);
  expect((await zdt(['stop', '--control', control])).code).toBe(0);
  expect(await running.exited).toEqual({ code: 0, signal: null });
  medians.set(`${app} ${secure} ${clients}`, median(durations));
  const parts = [];
  if (h2Summary) {
    parts.push(
      `HTTP/2 ${h2Summary.sent} requests, ${h2Summary.failed} failed${h2Summary.failed ? ` ${JSON.stringify(h2Summary.failures)}` : ''}, ` +
        `${h2Summary.refusedRetried} refused unprocessed and sent again, ${h2Summary.sessionsOpened} sessions`,
    );
  }
  if (h1Summary) parts.push(`HTTP/1.1${secure ? ' over TLS' : ''} ${h1Summary.sent} requests, ${h1Summary.failed} failed${h1Summary.failed ? ` ${JSON.stringify(h1Summary.failures)}` : ''}`);
  figures.push(`${name}: ${parts.join('; ')}; rollouts ${durations.join(', ')} ms (median ${median(durations)})`);
  if (h2Summary) {
    expect(h2Summary.failures).toEqual({});
    expect(h2Summary.failed).toBe(0);
    // Every rollout sent the sessions GOAWAY: the clients moved to new sessions, not to 503s.
    expect(h2Summary.goaways).toBeGreaterThanOrEqual(ROLLOUTS);
  }
  if (h1Summary) {
    expect(h1Summary.failures).toEqual({});
    expect(h1Summary.failed).toBe(0);
  }
}

describe('HTTP/2 rolling restarts under zdt start', () => {
  it(`a node:http2 app that imports nothing (zero-line mode), cleartext h2c: ${ROLLOUTS} rolling restarts, zero failed requests, every worker replaced`, async () => {
    await rollingRestarts('unmodified', false, 'h2');
  });
  // Fast tier: node:http2 importing nothing in cleartext (above) and over TLS with both kinds of clients; the full
  // tier crosses every framework with every kind.
  for (const app of ['node', 'fastify', 'nest'] as const) {
    if (FULL) {
      it(`${LABEL[app]} cleartext h2c: ${ROLLOUTS} rolling restarts, zero failed requests, every worker replaced`, async () => {
        await rollingRestarts(app, false, 'h2');
      });
    }
    if (FULL || app === 'node') {
      it(`${LABEL[app]} over TLS with allowHTTP1, HTTP/2 and HTTP/1.1 clients at once: ${ROLLOUTS} rolling restarts, zero failed requests`, async () => {
        await rollingRestarts(app, true, 'h2 and HTTP/1.1');
      });
    }
    if (FULL) {
      it(`${LABEL[app]} over TLS, HTTP/1.1 clients only, the reference for the rollout time: ${ROLLOUTS} rolling restarts, zero failed requests`, async () => {
        await rollingRestarts(app, true, 'HTTP/1.1 only');
      });
    }
  }
});

/** A session of its own to the app: cleartext, or TLS trusting the test certificate. */
function connect(port: number, tls: { ca: string } | undefined) {
  return http2.connect(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`, tls ? { ca: tls.ca } : {});
}

/** One GET over HTTP/2 on a session of its own: status and body. */
async function h2Get(port: number, tls: { ca: string } | undefined, path: string) {
  const session = connect(port, tls);
  try {
    return await new Promise<{ status: number; body: string }>((resolve, reject) => {
      session.once('error', reject);
      const stream = session.request({ ':path': path });
      let status = 0;
      let body = '';
      stream.setEncoding('utf8');
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('data', (chunk: string) => (body += chunk));
      stream.on('end', () => resolve({ status, body }));
      stream.on('error', reject);
    });
  } finally {
    session.close();
  }
}

/** Opens GET /events on a session of its own; resolves with what the stream received and how it ended. */
function eventStream(port: number, tls: { ca: string } | undefined) {
  const session = connect(port, tls);
  session.on('error', () => {});
  const stream = session.request({ ':path': '/events' });
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  stream.on('error', () => {});
  const first = new Promise<void>((resolve) => stream.once('data', () => resolve()));
  const ended = new Promise<{ text: string; rstCode: number | undefined }>((resolve) =>
    stream.once('close', () => {
      session.close();
      resolve({ text, rstCode: stream.rstCode });
    }),
  );
  return { first, ended };
}

describe('HTTP/2 apps alone under SIGTERM', () => {
  for (const app of ['node', 'fastify', 'nest'] as const) {
    for (const secure of cells([false, true], (tls) => app === 'fastify' && tls)) {
      it(`${app} ${secure ? 'over TLS' : 'cleartext'}: answers every stream the clients sent, ends the event stream with its last event, exits 0`, async () => {
        const started = startProcess(process.execPath, [APP], { env: { ...process.env, H2_APP: app, H2_TLS: secure ? '1' : '0', PORT: '0' } });
        const port = Number(/listening (\d+)/.exec(await started.waitForLine(/^listening \d+/))![1]);
        const tls = secure ? { ca: testCertificate.cert } : undefined;
        // Readiness answers over HTTP/2 as over HTTP/1.1.
        expect(await h2Get(port, tls, '/ready')).toMatchObject({ status: 200, body: expect.stringContaining('"ok"') });
        const events = eventStream(port, tls);
        await events.first;
        // Once the listener is closed, new sessions are refused (an orchestrator routes elsewhere): counted apart.
        let signalled = false;
        const load = startH2Load({ port, sessions: 4, streams: 2, tls, durationMs: 60_000, refusedIsExpected: () => signalled });
        // allowHTTP1: HTTP/1.1 clients on the same port are drained too (Connection: close, every request answered).
        const h1 = secure ? startLoad({ port, clients: 4, tls, durationMs: 60_000, refusedIsExpected: () => signalled }) : undefined;
        await load.waitForRequests(400);
        await h1?.waitForRequests(100);
        signalled = true;
        started.child.kill('SIGTERM');
        const exit = await started.exited;
        const summary = await load.stop();
        const h1Summary = await h1?.stop();
        const sse = await events.ended;
        const report = (JSON.parse((await started.waitForLine(/^cleanup \{/)).slice('cleanup '.length)) as { report: Record<string, unknown> }).report;
        console.log(
          `HTTP/2 ${app} ${secure ? 'TLS' : 'h2c'} alone under SIGTERM: ${summary.sent} requests, ${summary.failed} failed, ${summary.refusedRetried} refused unprocessed, ` +
            `${summary.refusedExpected} new sessions refused after the listener closed` +
            (h1Summary ? `; HTTP/1.1 over TLS ${h1Summary.sent} requests, ${h1Summary.failed} failed, ${h1Summary.connectionClose} told Connection: close` : '') +
            `; drain report ${JSON.stringify(report)}`,
        );
        expect(exit).toEqual({ code: 0, signal: null });
        expect(summary.failures).toEqual({});
        expect(summary.failed).toBe(0);
        expect(summary.ok).toBeGreaterThanOrEqual(400);
        if (h1Summary) {
          expect(h1Summary.failures).toEqual({});
          expect(h1Summary.failed).toBe(0);
          expect(h1Summary.connectionClose).toBeGreaterThan(0);
        }
        // The event stream was handed to the onDrainStart hook, which ended it with its last event: not cut.
        expect(sse.text).toMatch(/event: bye\ndata: draining\n\n$/);
        expect(sse.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
        expect(report).toMatchObject({ reason: 'SIGTERM', clean: true, cut: 0, cutLongLived: 0 });
      });
    }
  }
});
