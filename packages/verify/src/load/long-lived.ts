/**
 * What the two long-lived clients (WebSocket, server-sent events) share. Their unit is a connection, not a request:
 * each connection counts once when it ends, as ok when the server closed it properly (a WebSocket close frame with
 * one of PROPER_CLOSE_CODES, websocket.ts; an event stream that ended) or when it was still open when the load
 * stopped, as failed otherwise, by the reason the client saw (`cut (...)`: closed without a proper end). A client reconnects at once after a proper
 * close, as browsers and EventSource do; those reconnections are counted apart.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Tally, type LoadProgress, type RunningLoad } from './tally.js';

export interface LongLivedOptions {
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  path: string;
  /** Connections kept open at once. @default 4 */
  clients?: number;
  /** Hard bound on the time the load runs. @default 120_000 */
  durationMs?: number;
  /** Hard bound on each client's connections. @default 100_000 */
  maxConnectionsPerClient?: number;
  /** A connection that does not open, or (WebSocket) a ping unanswered, this long fails by timeout. @default 10_000 */
  requestTimeoutMs?: number;
}

export interface LongLivedSummary extends ReturnType<Tally['summary']> {
  /** Connections opened again after the server closed one properly. */
  reconnected: number;
  /** WebSocket: pings answered; event streams: events received. */
  messages: number;
}

export interface LongLivedLoad extends RunningLoad<LongLivedSummary> {
  /** Resolves once every client holds an open connection (one that has answered: a handshake, a pong, an event); at once when stopped. */
  waitForOpen(): Promise<void>;
}

/** After a failed connection a client pauses this long before the next. */
const PAUSE_AFTER_FAILURE_MS = 20;
/** How long a client stopping the load waits for the server to answer its close. */
export const CLOSE_WAIT_MS = 2_000;

/** One connection's life, as the client saw it end. */
export type Ending = { ok: true; reconnect: boolean } | { ok: false; reason: string };

export class LongLivedTally {
  readonly tally: Tally;
  reconnected = 0;
  messages = 0;
  /** Per client: whether its connection is open (it has answered and not ended). */
  private readonly open: boolean[];

  constructor(
    readonly clients: number,
    durationMs: number,
    maxConnectionsPerClient: number,
  ) {
    this.tally = new Tally(durationMs, maxConnectionsPerClient);
    this.open = Array.from({ length: clients }, () => false);
  }

  /** A client's connection answered (opened, a pong, an event). */
  answered(client: number): void {
    this.messages += 1;
    if (!this.open[client]) {
      this.open[client] = true;
      this.tally.wake();
    }
  }

  ended(client: number, ending: Ending, began: number): void {
    this.open[client] = false;
    if (ending.ok && ending.reconnect) this.reconnected += 1;
    this.tally.record(ending.ok ? undefined : ending.reason, undefined, began);
  }

  /** Calls `callback` once, when the load is told to stop (at once if it already was); returns the unsubscribe. */
  onStop(callback: () => void): () => void {
    const check = () => {
      if (!this.tally.stopping) return;
      this.tally.waiters.delete(check);
      callback();
    };
    this.tally.waiters.add(check);
    queueMicrotask(check);
    return () => this.tally.waiters.delete(check);
  }

  waitForOpen(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.tally.stopping || this.tally.ended || this.open.every(Boolean)) {
          this.tally.waiters.delete(check);
          resolve();
        }
      };
      this.tally.waiters.add(check);
      check();
    });
  }

  /** Each client opens one connection after another while the load runs; returns the load's handle. */
  start(connection: (client: number) => Promise<Ending>): LongLivedLoad {
    const client = async (index: number) => {
      for (let count = 0; this.tally.running(count); count += 1) {
        const began = performance.now();
        const ending = await connection(index);
        this.ended(index, ending, began);
        if (!ending.ok) await sleep(PAUSE_AFTER_FAILURE_MS);
      }
    };
    const summary = (): LongLivedSummary => ({ ...this.tally.summary(), reconnected: this.reconnected, messages: this.messages });
    const done = this.tally.run(Array.from({ length: this.clients }, (_, index) => client(index)), summary);
    return { ...this.tally.handle<LongLivedSummary, LoadProgress>(done), waitForOpen: () => this.waitForOpen() };
  }
}

/** Where a long-lived client connects, with the counts it keeps. */
export interface LongLivedTarget {
  host: string;
  port: number;
  path: string;
  requestTimeoutMs: number;
  counts: LongLivedTally;
}

/** Starts `clients` clients, each running `connection` one after another while the load runs. */
export function startLongLived(options: LongLivedOptions, connection: (target: LongLivedTarget, client: number) => Promise<Ending>): LongLivedLoad {
  const { port, host = '127.0.0.1', path, clients = 4 } = options;
  const counts = new LongLivedTally(clients, options.durationMs ?? 120_000, options.maxConnectionsPerClient ?? 100_000);
  const target: LongLivedTarget = { host, port, path, requestTimeoutMs: options.requestTimeoutMs ?? 10_000, counts };
  return counts.start((client) => connection(target, client));
}
