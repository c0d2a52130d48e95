/**
 * The pipelined HTTP/1.1 client: each client opens a connection, writes `depth` requests at once, reads the answers
 * in order, and closes it for the next batch. Only idempotent routes (GET, HEAD) are pipelined.
 *
 * One kind of retry, the one RFC 9112 §9.3.2 allows, counted in `retried`, apart from the requests: requests left
 * unanswered behind an answer with Connection: close were never processed and are sent again on a new connection, as
 * often as that happens; requests left unanswered by a clean close (a FIN between answers) are sent again once (RFC
 * 9110 §9.2.2: a retry is not retried; left unanswered again, it fails as 'closed without an answer'). A reset while no answer said the connection closes, a
 * response cut in the middle, or a timeout fails the requests it left unanswered.
 *
 * Written over node:net on purpose, not on undici's pipelining: undici retries on its own and does not say which
 * requests a closing server left unanswered, and this client exists to see that on the wire, to count what RFC 9112
 * lets a client send again apart from what failed.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerBreach, pidIn, reasonOf, type Route } from './routes.js';
import { Tally, type RunningLoad } from './tally.js';
import { requestBytes, takeResponses } from './wire.js';

export interface PipelinedLoadOptions {
  port: number;
  host?: string;
  /** @default 2 */
  clients?: number;
  /** Requests written at once. @default 4 */
  depth?: number;
  /** The routes to send; those not GET or HEAD are left out. */
  routes: readonly Route[];
  /** @default 120_000 */
  durationMs?: number;
  /** @default 200_000 */
  maxRequestsPerClient?: number;
  /** @default 30_000 */
  requestTimeoutMs?: number;
}

export interface PipelinedLoadSummary extends ReturnType<Tally['summary']> {
  /** Unanswered requests sent again after a clean close (RFC 9112 §9.3.2). */
  retried: number;
  connectionsOpened: number;
}

export type PipelinedLoad = RunningLoad<PipelinedLoadSummary>;

/** A request to write: its route, and whether it is already a retry. */
interface Pending {
  route: Route;
  retry: boolean;
}

/** The routes a pipelined client may send. */
export function pipelinableRoutes(routes: readonly Route[]): Route[] {
  return routes.filter((route) => route.method === 'GET' || route.method === 'HEAD');
}

interface BatchTarget {
  host: string;
  port: number;
  requestTimeoutMs: number;
  tally: Tally;
}

/** Sends `batch` on a new connection; resolves with the requests left unanswered and whether they may be retried. */
function sendBatch(target: BatchTarget, batch: Pending[]): Promise<{ unanswered: Pending[]; retry: boolean; unprocessed: boolean }> {
  const { host, port, requestTimeoutMs, tally } = target;
  const began = performance.now();
  return new Promise((resolve) => {
    const pending = [...batch];
    let buffer: Buffer = Buffer.alloc(0);
    let closing = false;
    let settled = false;
    const socket = net.connect({ host, port });
    const finish = (retry: boolean, reason?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (!retry && reason !== undefined) {
        for (let index = 0; index < pending.length; index += 1) tally.record(reason, undefined, began);
        resolve({ unanswered: [], retry: false, unprocessed: false });
      } else resolve({ unanswered: pending, retry, unprocessed: closing });
    };
    const timer = setTimeout(() => finish(false, 'timeout'), requestTimeoutMs);
    timer.unref();
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(Buffer.concat(batch.map(({ route }) => requestBytes(route.method, route.path, `${host}:${port}`)))));
    socket.on('data', (chunk: Buffer) => {
      const { responses, rest } = takeResponses(buffer.length ? Buffer.concat([buffer, chunk]) : chunk);
      buffer = rest;
      for (const response of responses) {
        const route = pending.shift()?.route;
        if (!route) break;
        const text = response.body.toString('utf8');
        const breach = answerBreach(route, response.status, text);
        tally.record(breach, breach === undefined ? pidIn(text) : undefined, began);
        if (response.closes) closing = true;
      }
      if (pending.length === 0 || closing) finish(true);
    });
    socket.on('error', (error) => finish(closing, reasonOf(error)));
    socket.on('close', () => {
      if (buffer.length > 0 && pending.length > 0) {
        // An answer cut in the middle: that request failed; the ones after it were never answered.
        tally.record('incomplete response', undefined, began);
        pending.shift();
      }
      finish(true);
    });
  });
}

export function startPipelinedLoad(options: PipelinedLoadOptions): PipelinedLoad {
  const { port, host = '127.0.0.1', clients = 2, depth = 4, requestTimeoutMs = 30_000 } = options;
  const routes = pipelinableRoutes(options.routes);
  if (routes.length === 0) throw new TypeError('startPipelinedLoad: no GET or HEAD route to pipeline');
  const tally = new Tally(options.durationMs ?? 120_000, options.maxRequestsPerClient ?? 200_000);
  let retried = 0;
  let connectionsOpened = 0;

  async function client(clientIndex: number) {
    let count = 0;
    let carried: Pending[] = [];
    // New requests while the load runs; what a clean close left unanswered is resent (once) unless it was stopped.
    while (tally.running(count) || (carried.length > 0 && !tally.stopping)) {
      const batch = [...carried];
      while (batch.length < depth && tally.running(count + batch.length - carried.length)) {
        batch.push({ route: routes[(count + clientIndex + batch.length) % routes.length]!, retry: false });
      }
      count += batch.length - carried.length;
      connectionsOpened += 1;
      const { unanswered, retry, unprocessed } = await sendBatch({ host, port, requestTimeoutMs, tally }, batch);
      carried = [];
      for (const request of retry ? unanswered : []) {
        if (unprocessed) carried.push(request);
        else if (request.retry) tally.record('closed without an answer', undefined, performance.now());
        else carried.push({ route: request.route, retry: true });
      }
      retried += carried.length;
      if (!retry) await sleep(5);
    }
  }

  const summary = (): PipelinedLoadSummary => ({ ...tally.summary(), retried, connectionsOpened });
  const done = tally.run(Array.from({ length: clients }, (_, index) => client(index)), summary);
  return tally.handle(done);
}
