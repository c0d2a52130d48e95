/**
 * The HTTP/1.1 load client: N clients on loopback, each sending one request at a time on its own socket (kept alive,
 * or a new connection per request), the routes in turn; every answer is checked against its route and every echo
 * compared with what was sent. Nothing is retried: a request a restart broke is counted as failed, by the reason the
 * client saw. Each request's start, latency and outcome are kept, with a per-100 ms series, for latency figures.
 */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerBreach, CONTRACT_ROUTES, echoBody, echoData, pidIn, reasonOf, routeFor, type Route } from './routes.js';
import { Tally, type RunningLoad } from './tally.js';

export const BUCKET_MS = 100;

/** After a failure a client pauses this long: a refused connection fails in microseconds. */
const PAUSE_AFTER_FAILURE_MS = 5;
/** After a refusal that is expected (the listener closed on purpose) a real client would go elsewhere. */
const PAUSE_AFTER_EXPECTED_REFUSAL_MS = 20;

export interface LoadOptions {
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 8 */
  clients?: number;
  /** false: a new connection per request (Connection: close). @default true */
  keepAlive?: boolean;
  /** What each client sends, in turn. @default CONTRACT_ROUTES (GET /ping, POST /echo) */
  routes?: readonly Route[];
  /** Hard bound on the time the load runs. @default 120_000 */
  durationMs?: number;
  /** Hard bound on each client's requests. @default 200_000 */
  maxRequestsPerClient?: number;
  /** Size of each echo's data. @default 64 */
  bodyBytes?: number;
  /** @default 30_000 */
  requestTimeoutMs?: number;
  /** When it returns true, a refused connection is counted apart (a standalone process closed its listener on purpose). */
  refusedIsExpected?: () => boolean;
  /** HTTP/1.1 over TLS, trusting this certificate (`rejectUnauthorized: false` when `insecure`). */
  tls?: { ca?: string; insecure?: boolean };
}

export interface LoadSummary extends ReturnType<Tally['summary']> {
  startedAtEpochMs: number;
  /** Refused connections while `refusedIsExpected()` said so: not sent requests. */
  refusedExpected: number;
  /** Answers that carried Connection: close. */
  connectionClose: number;
  /** Per 100 ms: requests that finished then, answered or failed. */
  series: Array<{ ok: number; failed: number }>;
  /** Per request, in completion order: start (ms since the load started), latency (ms), 1 if answered. */
  times: number[];
  latencies: number[];
  oks: number[];
}

export interface Load extends RunningLoad<LoadSummary> {
  /** Milliseconds since the load started, on the same clock as the records. */
  now(): number;
}

/** Every request's start, latency and outcome, in parallel arrays (compact at tens of thousands per second). */
class RequestRecord {
  readonly times: number[] = [];
  readonly latencies: number[] = [];
  readonly oks: number[] = [];
  readonly series: Array<{ ok: number; failed: number }> = [];
  refusedExpected = 0;
  connectionClose = 0;

  constructor(private readonly tally: Tally) {}

  add(began: number, reason: string | undefined, pid: number | undefined): void {
    const finished = performance.now();
    this.times.push(began - this.tally.startedAt);
    this.latencies.push(finished - began);
    this.oks.push(reason === undefined ? 1 : 0);
    const index = Math.floor((finished - this.tally.startedAt) / BUCKET_MS);
    while (this.series.length <= index) this.series.push({ ok: 0, failed: 0 });
    this.series[index]![reason === undefined ? 'ok' : 'failed'] += 1;
    this.tally.record(reason, pid, began);
  }
}

interface Target {
  transport: typeof http | typeof https;
  host: string;
  port: number;
  requestTimeoutMs: number;
  refusedIsExpected: (() => boolean) | undefined;
  record: RequestRecord;
}

/** One request; resolves with the failure reason, 'refused-expected', or undefined (and the pid) when it succeeded. */
function once(target: Target, agent: http.Agent, route: Route, data: string | undefined): Promise<[string | undefined, number | undefined]> {
  const body = data === undefined ? undefined : echoBody(data);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (reason: string | undefined, pid?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve([reason, pid]);
    };
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const outgoing = target.transport.request({ host: target.host, port: target.port, agent, method: route.method, path: route.path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error) => finish(reasonOf(error)));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const breach = answerBreach(route, response.statusCode ?? 0, text, data);
        if (breach === undefined && response.headers.connection === 'close') target.record.connectionClose += 1;
        finish(breach, breach === undefined ? pidIn(text) : undefined);
      });
    });
    const timer = setTimeout(() => outgoing.destroy(Object.assign(new Error('request timed out'), { code: 'timeout' })), target.requestTimeoutMs);
    timer.unref();
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' && target.refusedIsExpected?.()) finish('refused-expected');
      else finish(reasonOf(error));
    });
    outgoing.end(body);
  });
}

export function startLoad(options: LoadOptions): Load {
  const { port, host = '127.0.0.1', clients = 8, keepAlive = true, routes = CONTRACT_ROUTES, bodyBytes = 64, tls } = options;
  const transport = tls ? https : http;
  const tally = new Tally(options.durationMs ?? 120_000, options.maxRequestsPerClient ?? 200_000);
  const startedAtEpochMs = Date.now();
  const record = new RequestRecord(tally);
  const target: Target = { transport, host, port, requestTimeoutMs: options.requestTimeoutMs ?? 30_000, refusedIsExpected: options.refusedIsExpected, record };

  async function client(clientIndex: number) {
    const agent = new transport.Agent({ keepAlive, maxSockets: 1, ...(tls ? { ca: tls.ca, rejectUnauthorized: !tls.insecure } : {}) });
    try {
      for (let count = 0; tally.running(count); count += 1) {
        const route = routeFor(routes, clientIndex, count);
        const data = route.echo ? echoData(`${clientIndex}-${count}`, bodyBytes) : undefined;
        const began = performance.now();
        const [reason, pid] = await once(target, agent, route, data);
        if (reason === 'refused-expected') {
          record.refusedExpected += 1;
          await sleep(PAUSE_AFTER_EXPECTED_REFUSAL_MS);
          continue;
        }
        record.add(began, reason, pid);
        if (reason !== undefined) await sleep(PAUSE_AFTER_FAILURE_MS);
      }
    } finally {
      agent.destroy();
    }
  }

  const summary = (): LoadSummary => {
    const { refusedExpected, connectionClose, series, times, latencies, oks } = record;
    return { ...tally.summary(), startedAtEpochMs, refusedExpected, connectionClose, series, times, latencies, oks };
  };
  const done = tally.run(Array.from({ length: clients }, (_, index) => client(index)), summary);
  return { ...tally.handle(done), now: () => performance.now() - tally.startedAt };
}

/** Percentile (0..100) of a numeric array, nearest-rank. */
function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Latency percentiles of the successful requests that started inside any of the windows [from, to). */
export function latencyIn(summary: LoadSummary, windows: Array<[number, number]>): { count: number; p50: number | null; p99: number | null } {
  const picked: number[] = [];
  for (let index = 0; index < summary.times.length; index += 1) {
    if (!summary.oks[index]) continue;
    const at = summary.times[index]!;
    if (windows.some(([from, to]) => at >= from && at < to)) picked.push(summary.latencies[index]!);
  }
  return { count: picked.length, p50: percentile(picked, 50), p99: percentile(picked, 99) };
}
