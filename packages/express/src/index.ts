/**
 * `@zero-downtime/express`: one middleware that puts the server an Express app runs on under the worker drain of
 * `@zero-downtime/core/worker` and optionally answers readiness and liveness. Per request it only compares one
 * reference, whether or not a drain runs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  configure,
  healthResponse,
  InvalidOptionError,
  manageServer,
  resolveHealthPaths,
  HEALTH_PATH_DEFAULTS,
  type HealthKind,
  type HealthPathOptions,
  type WorkerOptions,
} from '@zero-downtime/core/worker';

/** Worker options of `@zero-downtime/core/worker` plus the health routes (both off by default). */
export interface ZeroDowntimeExpressOptions extends WorkerOptions, HealthPathOptions {}

export const EXPRESS_DEFAULTS = HEALTH_PATH_DEFAULTS;

/** The middleware's shape, written without Express types so Express 4 and 5 (and their typings) both accept it. */
export type ZeroDowntimeMiddleware = (
  request: IncomingMessage,
  response: ServerResponse,
  next: (error?: unknown) => void,
) => void;

type ManagedServer = Parameters<typeof manageServer>[0];

function isHttpServer(value: unknown): value is ManagedServer {
  return typeof value === 'object' && value !== null && typeof (value as { closeIdleConnections?: unknown }).closeIdleConnections === 'function';
}

function serverOf(request: IncomingMessage): unknown {
  return (request.socket as { server?: unknown } | undefined)?.server;
}

/** Express 4 and 5 set `request.path` (relative to the mount point); plain node requests only have `url`. */
function pathOf(request: IncomingMessage & { path?: unknown }): string {
  if (typeof request.path === 'string') return request.path;
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function answerHealth(kind: HealthKind, response: ServerResponse): void {
  const { status, body } = healthResponse(kind);
  response.statusCode = status;
  response.setHeader('content-type', 'application/json; charset=utf-8');
  response.setHeader('cache-control', 'no-store');
  response.end(JSON.stringify(body));
}

/**
 * `app.use(zeroDowntime(options))`, first. Worker options are validated and applied once, here (throws
 * `InvalidOptionError`); the drain itself lives in core and covers the server whether it came from `app.listen()`
 * or `http.createServer(app)`.
 */
export function zeroDowntime(options: ZeroDowntimeExpressOptions = {}): ZeroDowntimeMiddleware {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'an object', options);
  const { readinessPath: readinessOption, livenessPath: livenessOption, ...workerOptions } = options;
  const { readinessPath, livenessPath } = resolveHealthPaths({ readinessPath: readinessOption, livenessPath: livenessOption });
  configure(workerOptions);

  // Nothing per request but one comparison: core marks every response Connection: close from the drain's start on
  // (before Express sees the request), so the middleware only makes sure the server it serves on is managed.
  let knownServer: unknown;
  const manage = (server: unknown): void => {
    knownServer = server;
    // Core finds servers by itself at their listen() or first connection; this covers one created before core was loaded.
    if (isHttpServer(server)) manageServer(server);
  };
  if (readinessPath === false && livenessPath === false) {
    return function zeroDowntimeMiddleware(request, _response, next) {
      const server = serverOf(request);
      if (server !== knownServer) manage(server);
      next();
    };
  }
  return function zeroDowntimeMiddleware(request, response, next) {
    const server = serverOf(request);
    if (server !== knownServer) manage(server);
    if (request.method === 'GET' || request.method === 'HEAD') {
      const path = pathOf(request);
      if (readinessPath !== false && path === readinessPath) return answerHealth('readiness', response);
      if (livenessPath !== false && path === livenessPath) return answerHealth('liveness', response);
    }
    next();
  };
}

export default zeroDowntime;

export {
  InvalidOptionError,
  isDraining,
  onDrainStart,
  onShutdown,
  ready,
  shutdown,
  type DrainReport,
  type WorkerOptions,
} from '@zero-downtime/core/worker';
