/**
 * `@zero-downtime/core/worker`: what runs inside a worker process. One lifecycle per process, shared by every copy
 * of this module (ESM and CJS builds, duplicated installs) through `globalThis`. Never loads primary code.
 */
import type { Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Http2SecureServer, Http2Server } from 'node:http2';
import { isManagedServer } from './http-tracker.js';
import { isDrainingState } from './drain-state.js';
import { resolveWorkerOptions, type WorkerOptions } from './options.js';
import { getRuntime } from './runtime.js';
import type {
  DrainReport,
  DrainStartHook,
  DrainState,
  HealthKind,
  HealthResponse,
  ShutdownHook,
  ShutdownHookOptions,
} from './types.js';
import { InvalidOptionError } from '../errors.js';

export { WORKER_DEFAULTS, HEALTH_PATH_DEFAULTS, resolveWorkerOptions, resolveHealthPaths } from './options.js';
export type { WorkerOptions, WorkerLogger, ResolvedWorkerOptions, HealthPathOptions } from './options.js';
export type {
  DrainReport,
  DrainStartHook,
  DrainStartInfo,
  DrainState,
  HealthKind,
  HealthResponse,
  ShutdownHook,
  ShutdownHookOptions,
  ShutdownInfo,
} from './types.js';
export { InvalidOptionError, ZdtError } from '../errors.js';
export { closeAfterDrain } from './close-after-drain.js';
export { manageSocketIo } from './socket-io.js';
export type { ManageSocketIoOptions, SocketIoServerLike } from './socket-io.js';

/**
 * Sets worker options. Validated here (throws `InvalidOptionError`); later calls merge into earlier ones, so an
 * adapter and the app can each set what they own.
 */
export function configure(options: WorkerOptions): void {
  const runtime = getRuntime();
  const merged = { ...runtime.rawOptions, ...options };
  runtime.applyOptions(merged, resolveWorkerOptions(merged));
}

/**
 * Puts an http, https or HTTP/2 server under the drain. Idempotent. Servers that serve a request are managed anyway.
 */
export function manageServer(server: HttpServer | HttpsServer | Http2Server | Http2SecureServer): void {
  if (!isManagedServer(server)) {
    throw new InvalidOptionError('server', 'an http.Server, https.Server or HTTP/2 server', server);
  }
  getRuntime().manageServer(server as HttpServer);
}

/**
 * Tells the supervisor this worker is ready (readiness 'message'); under PM2 also answers `wait_ready`. Under readiness
 * `http:PATH` it changes nothing: the worker is ready when its own server answers 2xx to `GET PATH`.
 */
export function ready(): void {
  getRuntime().ready();
}

/**
 * Registers app cleanup (database pools, queues). Hooks run after the HTTP drain, in registration order, each
 * bounded by `timeoutMs` (default `cleanupTimeoutMs`). Returns a function that unregisters the hook.
 */
export function onShutdown(hook: ShutdownHook, options: ShutdownHookOptions = {}): () => void {
  if (typeof hook !== 'function') throw new InvalidOptionError('hook', 'a function', hook);
  if (options.timeoutMs !== undefined && (typeof options.timeoutMs !== 'number' || !Number.isFinite(options.timeoutMs) || options.timeoutMs < 0)) {
    throw new InvalidOptionError('timeoutMs', 'a finite number of milliseconds >= 0', options.timeoutMs);
  }
  return getRuntime().addShutdownHook(hook, options);
}

/**
 * Registers a hook called when the drain starts with the long-lived exchanges (WebSocket upgrades, SSE responses)
 * so the app can close them properly. Returns a function that unregisters the hook.
 */
export function onDrainStart(hook: DrainStartHook): () => void {
  if (typeof hook !== 'function') throw new InvalidOptionError('hook', 'a function', hook);
  return getRuntime().addDrainStartHook(hook);
}

/** Starts the drain (the same one every trigger starts). Idempotent: later calls return the same promise. */
export function shutdown(reason = 'manual'): Promise<DrainReport> {
  return getRuntime().shutdown(reason);
}

/** True from the drain start on (not while a replacement is only asked for: the worker still serves as usual then). */
export function isDraining(): boolean {
  return isDrainingState(getRuntime().state);
}

/** `'running'` → (`'replacing'`, after an uncaught exception under the supervisor) → `'draining'` → `'cleanup'` → `'exiting'`. */
export function getDrainState(): DrainState {
  return getRuntime().state;
}

/** Readiness answers 503 from the moment the drain starts (or a replacement was asked for); liveness stays 200. */
export function healthResponse(kind: HealthKind): HealthResponse {
  if (kind !== 'readiness' && kind !== 'liveness') {
    throw new InvalidOptionError('kind', '"readiness" or "liveness"', kind);
  }
  return getRuntime().healthResponse(kind);
}

/** Sets `Connection: close` on a response when the worker (or the response's server) is draining. */
export function markResponseDraining(response: ServerResponse): void {
  getRuntime().markResponse(response);
}

// Loading the module is enough to follow every http server of the process and answer the supervisor.
getRuntime();
