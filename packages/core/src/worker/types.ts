import type { Socket } from 'node:net';
import type { ServerHttp2Stream } from 'node:http2';
import type { ServerResponse } from 'node:http';

export type { DrainState } from './drain-state.js';

/** What the HTTP drain did; given to cleanup hooks and returned by `shutdown()`. */
export interface DrainReport {
  /** What started the drain: 'SIGTERM', 'SIGINT', 'disconnect', 'reload', 'manual', 'uncaughtException'... */
  reason: string;
  /** True when every connection ended by itself before the deadline. */
  clean: boolean;
  /** Connections destroyed at the deadline while a request or a long-lived exchange was still running. */
  cut: number;
  /** Of `cut`: upgraded sockets (WebSocket) and event streams. */
  cutLongLived: number;
  /** Requests answered after the drain started. */
  served: number;
  /** Requests in flight when the drain started. */
  inFlightAtStart: number;
  /** Idle keep-alive sockets closed after their grace period. */
  idleClosed: number;
  /**
   * Requests parsed after their connection's closing answer (`Connection: close`) went out: never handed to the app,
   * the connection closed unread. The client knows they were not processed and may send them again (RFC 9112 9.3.2).
   */
  unprocessed: number;
  /** From the trigger to the last connection closed. */
  durationMs: number;
}

/** Given to `onDrainStart` hooks. */
export interface DrainStartInfo {
  reason: string;
  /**
   * Long-lived exchanges open at this moment: upgraded sockets (WebSocket), responses sent as `text/event-stream`
   * and, on HTTP/2, streams answered as `text/event-stream` (`ServerHttp2Stream`: `end()` it). Close them properly
   * (WebSocket close code 1001); whatever is still open at the deadline is destroyed.
   */
  longLived: Set<Socket | ServerResponse | ServerHttp2Stream>;
}

/** Given to `onShutdown` cleanup hooks, which run after the HTTP drain. */
export interface ShutdownInfo {
  reason: string;
  report: DrainReport;
}

export interface ShutdownHookOptions {
  /** Shown in logs when the hook fails or times out. */
  name?: string;
  /** Bound for this hook; defaults to `cleanupTimeoutMs`. Under the supervisor, never past its cleanup deadline. */
  timeoutMs?: number;
}

export type ShutdownHook = (info: ShutdownInfo) => unknown;
export type DrainStartHook = (info: DrainStartInfo) => unknown;

export type HealthKind = 'readiness' | 'liveness';

export interface HealthResponse {
  status: 200 | 503;
  body: { status: 'ok' | 'draining' };
}
