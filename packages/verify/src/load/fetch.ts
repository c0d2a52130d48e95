/**
 * The fetch client: Node's global fetch (undici, pooled keep-alive connections), `clients` loops each with one request
 * in flight, the routes in turn. Nothing is retried by this client; undici itself retries nothing that was sent.
 * Node's own fetch, not the undici package: it is the fetch the user's app and its clients run on that Node.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostPort } from '@zero-downtime/core/tooling';
import { answerBreach, echoBody, echoData, pidIn, reasonOf, routeFor, type Route } from './routes.js';
import { Tally, type RunningLoad } from './tally.js';

export interface FetchLoadOptions {
  port: number;
  host?: string;
  /** @default 2 */
  clients?: number;
  routes: readonly Route[];
  /** @default 120_000 */
  durationMs?: number;
  /** @default 200_000 */
  maxRequestsPerClient?: number;
  /** @default 30_000 */
  requestTimeoutMs?: number;
  /** Speak https (the certificate is not checked when the origin is a loopback address given by the caller). */
  secure?: boolean;
}

export type FetchLoadSummary = ReturnType<Tally['summary']>;
export type FetchLoad = RunningLoad<FetchLoadSummary>;

export function startFetchLoad(options: FetchLoadOptions): FetchLoad {
  const { port, host = '127.0.0.1', clients = 2, routes, requestTimeoutMs = 30_000, secure = false } = options;
  const tally = new Tally(options.durationMs ?? 120_000, options.maxRequestsPerClient ?? 200_000);
  const origin = `${secure ? 'https' : 'http'}://${hostPort(host, port)}`;

  async function once(route: Route, data: string | undefined): Promise<[string | undefined, number | undefined]> {
    try {
      const response = await fetch(origin + route.path, {
        method: route.method,
        ...(data === undefined ? {} : { body: echoBody(data), headers: { 'content-type': 'application/json' } }),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const text = await response.text();
      const breach = answerBreach(route, response.status, text, data);
      return [breach, breach === undefined ? pidIn(text) : undefined];
    } catch (error) {
      return [(error as Error).name === 'TimeoutError' ? 'timeout' : reasonOf((error as { cause?: unknown }).cause ?? error), undefined];
    }
  }

  async function client(clientIndex: number) {
    for (let count = 0; tally.running(count); count += 1) {
      const route = routeFor(routes, clientIndex, count);
      const began = performance.now();
      const [reason, pid] = await once(route, route.echo ? echoData(`fetch-${clientIndex}-${count}`) : undefined);
      tally.record(reason, pid, began);
      if (reason !== undefined) await sleep(5);
    }
  }

  const done = tally.run(Array.from({ length: clients }, (_, index) => client(index)), () => tally.summary());
  return tally.handle(done);
}
