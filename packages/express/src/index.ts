/**
 * `@zero-downtime/express`: one middleware that puts the server an Express app runs on under the worker drain of
 * `@zero-downtime/core/worker` and optionally answers readiness and liveness. Without health routes it leaves the
 * app's middleware stack after the first request (nothing per request); with them, one comparison and the routes.
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

interface RouterLike {
  stack: Array<{ handle?: unknown }>;
}

/**
 * Takes `middleware` out of the middleware stack of the app serving `request` (Express 4: `app._router`, Express 5:
 * `app.router`). The stack is replaced, not changed in place: Express reads a router's stack once per request, so a
 * request being dispatched keeps the array it started with and no layer is skipped. Where the middleware is not in
 * the app's own stack (mounted in an `express.Router()`), it stays, and costs one layer per request.
 */
function leaveStack(request: IncomingMessage, middleware: ZeroDowntimeMiddleware): void {
  // An Express app is a function.
  const app = (request as { app?: { _router?: unknown; router?: unknown } }).app;
  if (typeof app !== 'function' && (typeof app !== 'object' || app === null)) return;
  try {
    // Express 4's `app.router` getter throws: read `_router` first, which only Express 4 has.
    const router = (app._router ?? app.router) as RouterLike | undefined;
    if (!router || !Array.isArray(router.stack) || !router.stack.some((layer) => layer?.handle === middleware)) return;
    router.stack = router.stack.filter((layer) => layer?.handle !== middleware);
  } catch {
    // Not an Express app as we know it: the middleware stays.
  }
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
    // Without health routes the middleware has nothing to do per request once it has seen the server: it leaves the
    // app's middleware stack after its first request, so Express does not walk one more layer for every request.
    const middleware: ZeroDowntimeMiddleware = function zeroDowntimeMiddleware(request, _response, next) {
      const server = serverOf(request);
      if (server !== knownServer) {
        manage(server);
        leaveStack(request, middleware);
      }
      next();
    };
    return middleware;
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
