import { InvalidOptionError } from '../errors.js';
import { MAX_TIMER_MS } from '../settings/parse.js';

/** pino-compatible logger: each method takes `(object | message, message?)`. */
export interface WorkerLogger {
  info(objectOrMessage: unknown, message?: string): void;
  warn(objectOrMessage: unknown, message?: string): void;
  error(objectOrMessage: unknown, message?: string): void;
  debug(objectOrMessage: unknown, message?: string): void;
}

/** Options of the worker side. Every field is optional; `configure()` merges later calls into earlier ones. */
export interface WorkerOptions {
  /**
   * Longest time the HTTP drain may take, from the trigger to the last connection closed. At the deadline the
   * remaining connections are destroyed and counted as cut. Under the supervisor the limit is the supervisor's
   * `drainTimeoutMs` (`ZDT_DRAIN_TIMEOUT_MS`), and a value set here can only shorten it.
   * @default 10_000 (alone); the supervisor's drain timeout under the supervisor
   */
  drainTimeoutMs?: number;
  /**
   * A keep-alive socket that is idle when the drain starts is not destroyed at once (a client may be sending its next
   * request on it right now): it stays open this long, and a request arriving on it is served with
   * `Connection: close`. Afterwards idle sockets are closed.
   * @default 1_000
   */
  idleGraceMs?: number;
  /**
   * Time between "readiness answers 503" and "stop listening", so a load balancer polling readiness stops sending
   * first. Only applies outside a cluster worker (in a cluster worker the primary stops routing as soon as the
   * worker closes its server, so waiting only slows rollouts).
   * @default 0
   */
  shutdownDelayMs?: number;
  /**
   * Default bound of each cleanup hook registered with `onShutdown()`. Under the supervisor all hooks together also
   * end by the supervisor's cleanup deadline (drain start + its drain timeout + its cleanup timeout).
   * @default 5_000
   */
  cleanupTimeoutMs?: number;
  /**
   * SIGTERM and SIGINT start the drain; a second one forces the exit.
   * @default true
   */
  signals?: boolean;
  /**
   * An uncaught exception stops the worker taking new work, lets the requests in flight finish (bounded by
   * `drainTimeoutMs`) and exits with status 1. Under the supervisor the worker first asks to be replaced start-first.
   * @default true
   */
  handleUncaughtExceptions?: boolean;
  /**
   * After an uncaught exception under the supervisor, how long to wait for the supervisor's shutdown (sent once the
   * replacement is ready) before draining anyway.
   * @default 30_000
   */
  replaceTimeoutMs?: number;
  /**
   * Call `process.exit()` after cleanup: 0 when the drain was clean and every cleanup hook succeeded, 1 otherwise.
   * @default true
   */
  exit?: boolean;
  /**
   * Where the worker side logs. `false` logs nothing. The default writes warnings and errors to stderr.
   * @default stderr logger (warn and error only)
   */
  logger?: WorkerLogger | false;
}

export interface ResolvedWorkerOptions {
  drainTimeoutMs: number;
  idleGraceMs: number;
  shutdownDelayMs: number;
  cleanupTimeoutMs: number;
  signals: boolean;
  handleUncaughtExceptions: boolean;
  replaceTimeoutMs: number;
  exit: boolean;
  logger: WorkerLogger;
}

export const WORKER_DEFAULTS = Object.freeze({
  drainTimeoutMs: 10_000,
  idleGraceMs: 1_000,
  shutdownDelayMs: 0,
  cleanupTimeoutMs: 5_000,
  signals: true,
  handleUncaughtExceptions: true,
  replaceTimeoutMs: 30_000,
  exit: true,
});

export { MAX_TIMER_MS };

const DURATION_OPTIONS = [
  'drainTimeoutMs',
  'idleGraceMs',
  'shutdownDelayMs',
  'cleanupTimeoutMs',
  'replaceTimeoutMs',
] as const;
const BOOLEAN_OPTIONS = ['signals', 'handleUncaughtExceptions', 'exit'] as const;
const KNOWN_OPTIONS = new Set<string>([...DURATION_OPTIONS, ...BOOLEAN_OPTIONS, 'logger']);

function writeToStderr(level: string, objectOrMessage: unknown, message?: string): void {
  const text =
    typeof objectOrMessage === 'string'
      ? objectOrMessage
      : `${message ?? ''} ${objectOrMessage instanceof Error ? (objectOrMessage.stack ?? objectOrMessage.message) : safeJson(objectOrMessage)}`;
  process.stderr.write(`[zero-downtime ${process.pid}] ${level}: ${text.trim()}\n`);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, inner: unknown) =>
      inner instanceof Error ? { message: inner.message, stack: inner.stack } : inner,
    );
  } catch {
    return String(value);
  }
}

const noop = (): void => {};

export const STDERR_LOGGER: WorkerLogger = Object.freeze({
  info: noop,
  debug: noop,
  warn: (objectOrMessage: unknown, message?: string) => writeToStderr('warn', objectOrMessage, message),
  error: (objectOrMessage: unknown, message?: string) => writeToStderr('error', objectOrMessage, message),
});

export const SILENT_LOGGER: WorkerLogger = Object.freeze({ info: noop, debug: noop, warn: noop, error: noop });

function isLogger(value: unknown): value is WorkerLogger {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ['info', 'warn', 'error', 'debug'].every((method) => typeof candidate[method] === 'function');
}

/**
 * Merges `options` over the defaults and validates every field once, naming the option and the value received.
 * Unknown keys are refused too, so a typo does not silently fall back to a default.
 */
export function resolveWorkerOptions(options: WorkerOptions = {}): ResolvedWorkerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object', options);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new InvalidOptionError(key, `a known worker option (${[...KNOWN_OPTIONS].join(', ')})`, (options as Record<string, unknown>)[key]);
    }
  }
  const resolved: Record<string, unknown> = { ...WORKER_DEFAULTS };
  for (const name of DURATION_OPTIONS) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
      throw new InvalidOptionError(name, `a number of milliseconds from 0 to ${MAX_TIMER_MS}`, value);
    }
    resolved[name] = value;
  }
  for (const name of BOOLEAN_OPTIONS) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw new InvalidOptionError(name, 'a boolean', value);
    resolved[name] = value;
  }
  const logger = options.logger;
  if (logger === undefined) resolved.logger = STDERR_LOGGER;
  else if (logger === false) resolved.logger = SILENT_LOGGER;
  else if (isLogger(logger)) resolved.logger = logger;
  else throw new InvalidOptionError('logger', 'false or an object with info, warn, error and debug methods', logger);
  return resolved as unknown as ResolvedWorkerOptions;
}

/** The readiness and liveness routes every adapter offers; off unless a path is given. */
export interface HealthPathOptions {
  /**
   * GET route answering 200 `{"status":"ok"}`, then 503 `{"status":"draining"}` from the instant the drain starts
   * (or a replacement is asked for). Suggested: `'/ready'`. `false`: no route.
   * @default false
   */
  readinessPath?: string | false;
  /**
   * GET route answering 200 `{"status":"ok"}` until the process exits. Suggested: `'/live'`. `false`: no route.
   * @default false
   */
  livenessPath?: string | false;
}

export const HEALTH_PATH_DEFAULTS = Object.freeze({ readinessPath: false, livenessPath: false } as const);

function resolveHealthPath(option: keyof HealthPathOptions, value: unknown): string | false {
  if (value === undefined || value === false) return false;
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new InvalidOptionError(option, 'a path starting with "/", or false', value);
  }
  return value;
}

/** Validates the adapters' health-route options once, with the same rules and messages in every adapter. */
export function resolveHealthPaths(options: HealthPathOptions): Required<HealthPathOptions> {
  const readinessPath = resolveHealthPath('readinessPath', options.readinessPath ?? HEALTH_PATH_DEFAULTS.readinessPath);
  const livenessPath = resolveHealthPath('livenessPath', options.livenessPath ?? HEALTH_PATH_DEFAULTS.livenessPath);
  if (readinessPath !== false && readinessPath === livenessPath) {
    throw new InvalidOptionError('livenessPath', 'a path different from readinessPath', options.livenessPath);
  }
  return { readinessPath, livenessPath };
}
