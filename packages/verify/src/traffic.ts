/**
 * The traffic `zdt verify` drives: which routes (the user's, else the first health route that answers), which kinds
 * (HTTP/2 only when the app answers it), and one running load client per kind.
 */
import http2 from 'node:http2';
import { hostPort } from '@zero-downtime/core/tooling';
import {
  get,
  pipelinableRoutes,
  startEventStreamLoad,
  startFetchLoad,
  startH2Load,
  startWebSocketLoad,
  startLoad,
  startPipelinedLoad,
  type FailureRecord,
  type LoadProgress,
  type LongLivedLoad,
  type LongLivedOptions,
  type Route,
} from './load/index.js';
import { MAX_TIMER_MS } from '@zero-downtime/core';
import type { TrafficKind } from './args.js';

/** Tried in order when no --route is given; the first that answers 200 is used. */
const HEALTH_PATHS = ['/health', '/healthz', '/live', '/ping'];
/** Tried in order when no --websocket / --sse is given; the first that serves one is used. */
const WEBSOCKET_PATHS = ['/ws', '/websocket', '/socket'];
const EVENT_STREAM_PATHS = ['/events', '/sse', '/stream'];
const LONG_LIVED = { ws: startWebSocketLoad, sse: startEventStreamLoad } as const;
/** How long a probe waits for a WebSocket handshake or an event stream's headers. */
const PROBE_MS = 2_000;
/** Bound on each run's requests: the run ends with its events, long before. */
const MAX_REQUESTS_PER_CLIENT = 10_000_000;

export interface KindSummary {
  sent: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  failureLog: FailureRecord[];
  pids: Set<number>;
  /** Sent again as the protocol allows (pipelined after a clean close, HTTP/2 refused streams); ws and sse: opened again after a proper close. */
  retried: number;
}

export interface RunningKind {
  kind: TrafficKind;
  /** Requests this kind keeps in flight at most. */
  concurrency: number;
  progress(): LoadProgress;
  waitForRequests(count: number): Promise<void>;
  stop(): Promise<KindSummary>;
}

/** The status GET `path` answers over HTTP/1.1 or HTTP/2 (cleartext, prior knowledge); undefined when nothing answers. */
export async function probe(protocol: 'h1' | 'h2', host: string, port: number, path: string): Promise<number | undefined> {
  if (protocol === 'h1') {
    try {
      return (await get(port, path, { host, timeoutMs: 2_000 })).status;
    } catch {
      return undefined;
    }
  }
  return new Promise((resolve) => {
    const session = http2.connect(`http://${hostPort(host, port)}`);
    const done = (status: number | undefined) => {
      clearTimeout(timer);
      session.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => done(undefined), 2_000);
    session.on('error', () => done(undefined));
    const stream = session.request({ ':path': path });
    stream.on('response', (headers) => done(Number(headers[':status'])));
    stream.on('error', () => done(undefined));
    stream.end();
  });
}

/** The user's routes, or the first health path that answers 200, else GET / with any status below 500. */
export async function chooseRoutes(given: Route[] | undefined, protocol: 'h1' | 'h2', host: string, port: number): Promise<Route[]> {
  if (given) return given;
  for (const path of HEALTH_PATHS) {
    if ((await probe(protocol, host, port, path)) === 200) return [{ method: 'GET', path, status: 200 }];
  }
  return [{ method: 'GET', path: '/' }];
}

/** Whether `path` serves a WebSocket (`ws`) or an event stream (`sse`): one client, one connection, at most PROBE_MS. */
async function servesLongLived(kind: keyof typeof LONG_LIVED, host: string, port: number, path: string): Promise<boolean> {
  const load = LONG_LIVED[kind]({ host, port, path, clients: 1, maxConnectionsPerClient: 1, requestTimeoutMs: PROBE_MS });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([load.waitForOpen(), load.done, new Promise((resolve) => (timer = setTimeout(resolve, PROBE_MS)))]);
  clearTimeout(timer);
  return (await load.stop()).messages > 0;
}

/** The WebSocket path and event stream to drive: as given, else the first common path that serves one. */
export async function chooseLongLivedPaths(kinds: TrafficKind[], given: { ws: string | undefined; sse: string | undefined }, host: string, port: number) {
  const find = async (kind: keyof typeof LONG_LIVED, candidates: string[]) => {
    if (!kinds.includes(kind)) return undefined;
    if (given[kind] !== undefined) return given[kind];
    for (const path of candidates) if (await servesLongLived(kind, host, port, path)) return path;
    return undefined;
  };
  return { ws: await find('ws', WEBSOCKET_PATHS), sse: await find('sse', EVENT_STREAM_PATHS) };
}

export interface TrafficPlan {
  kinds: TrafficKind[];
  routes: Route[];
  longLivedPaths: { ws: string | undefined; sse: string | undefined };
  host: string;
  port: number;
  clients: number;
  /** A request (a handshake, a WebSocket ping) unanswered this long fails, by timeout. */
  requestTimeoutMs: number;
}

export function startTraffic({ kinds, routes, longLivedPaths, host, port, clients, requestTimeoutMs }: TrafficPlan): RunningKind[] {
  const common = { host, port, routes, durationMs: MAX_TIMER_MS, maxRequestsPerClient: MAX_REQUESTS_PER_CLIENT, requestTimeoutMs };
  const running: RunningKind[] = [];
  for (const kind of kinds) {
    if (kind === 'keep-alive' || kind === 'close') {
      const load = startLoad({ ...common, clients, keepAlive: kind === 'keep-alive' });
      running.push({ kind, concurrency: clients, ...wrap(load, () => 0) });
    } else if (kind === 'fetch') {
      running.push({ kind, concurrency: clients, ...wrap(startFetchLoad({ ...common, clients }), () => 0) });
    } else if (kind === 'ws' || kind === 'sse') {
      const path = longLivedPaths[kind];
      if (path === undefined) continue;
      const options: LongLivedOptions = { host, port, path, clients, durationMs: MAX_TIMER_MS, maxConnectionsPerClient: MAX_REQUESTS_PER_CLIENT, requestTimeoutMs };
      const load: LongLivedLoad = LONG_LIVED[kind](options);
      // Long-lived connections complete at deploys, not on their own: waiting for "requests" is waiting for every client to be open.
      running.push({ kind, concurrency: clients, ...wrap(load, (summary) => summary.reconnected), waitForRequests: () => load.waitForOpen() });
    } else if (kind === 'pipelined') {
      if (pipelinableRoutes(routes).length === 0) continue;
      const depth = 4;
      const load = startPipelinedLoad({ ...common, clients, depth });
      running.push({ kind, concurrency: clients * depth, ...wrap(load, (summary) => summary.retried) });
    } else {
      const streams = 2;
      const load = startH2Load({ ...common, sessions: clients, streams });
      running.push({ kind, concurrency: clients * streams, ...wrap(load, (summary) => summary.refusedRetried) });
    }
  }
  return running;
}

type AnyLoad<Summary> = { progress(): LoadProgress; waitForRequests(count: number): Promise<void>; stop(): Promise<Summary> };

function wrap<Summary extends Omit<KindSummary, 'retried'>>(load: AnyLoad<Summary>, retried: (summary: Summary) => number) {
  return {
    progress: () => load.progress(),
    waitForRequests: (count: number) => load.waitForRequests(count),
    stop: async (): Promise<KindSummary> => {
      const summary = await load.stop();
      const { sent, ok, failed, failures, failureLog, pids } = summary;
      return { sent, ok, failed, failures, failureLog, pids, retried: retried(summary) };
    },
  };
}
