/**
 * Supervisor options: one interface, one table of defaults, one resolveOptions()
 * that merges, validates and derives everything once. Nothing downstream
 * re-checks an option.
 */
import path from 'node:path';
import type { ForkFunction } from './fork-seam.js';
import { InvalidOptionError } from './errors.js';
import type { ListenOption } from './primary/sockets/listeners.js';
import { isObject, MAX_TIMER_MS, parseListenAddress, readOption as parsed, wholeNumber } from './settings/parse.js';
import { probePath, readReadiness, type Readiness } from './settings/readiness.js';
import { SETTING_OPTIONS } from './settings/table.js';
import { resolveConnections, type StickyMode } from './settings/connections.js';
import { createConsoleLogger, isLogger, silentLogger, type Logger } from './logger.js';

export { createConsoleLogger, createJsonLogger, type Logger } from './logger.js';
import { logicalWorkingDirectory } from './working-directory.js';

export { logicalWorkingDirectory } from './working-directory.js';
export type { ForkFunction, ForkSettings } from './fork-seam.js';
import { DEFAULTS } from './settings/defaults.js';
import { readCanaryMs, resolveCanaryOptions, type CanaryOptions, type ResolvedCanaryOptions } from './settings/canary-options.js';

export { DEFAULTS } from './settings/defaults.js';

export { MAX_TIMER_MS, parseDuration, parseListenAddress } from './settings/parse.js';

export type { Readiness } from './settings/readiness.js';

/** Delay before restarting a worker that crashed quickly: initialMs × multiplier^(n-1), capped at maxMs, ± jitter. */
export interface BackoffOptions {
  /** @default 100 */
  initialMs?: number;
  /** @default 30_000 */
  maxMs?: number;
  /** @default 2 */
  multiplier?: number;
  /** Fraction of the delay added or removed at random, 0..1. @default 0.2 */
  jitter?: number;
}

export interface SupervisorOptions extends CanaryOptions {
  /** The app's entry file, resolved against `cwd`. Required. */
  entry: string;
  /** Arguments passed to the app. @default [] */
  args?: string[];
  /** Extra environment variables for the workers (added to the primary's). @default {} */
  env?: Record<string, string | undefined>;
  /**
   * Working directory of the workers; `entry` is resolved against it. Kept as a path, never realpath'd.
   * @default the logical working directory: `$PWD` when it is the same directory as `process.cwd()` (so a
   * `current` symlink a deploy switches is followed), else `process.cwd()`
   */
  cwd?: string;
  /** Node flags for the workers. @default [] */
  execArgv?: string[];
  /** Number of workers. @default os.availableParallelism() */
  workers?: number;
  /**
   * When a worker counts as ready: its first `'listening'`; the app calling `ready()` from
   * `@zero-downtime/core/worker`; or `'http:/healthz'`: its own server answering 2xx to `GET /healthz`, asked by the
   * worker side over a private connection once the server listens, retried until `readyTimeoutMs` (needs `autoDrain`).
   * @default 'listening'
   */
  readiness?: Readiness;
  /** A new worker not ready within this time is killed (a failed start, rollout or restart). @default 30_000 */
  readyTimeoutMs?: number;
  /**
   * How long a request in flight may run to completion once its worker starts draining (rollout, replacement,
   * stop). Workers that load the worker module drain for this long unless the app sets a shorter `drainTimeoutMs`
   * of its own. A stopping worker still alive at `drainTimeoutMs + cleanupTimeoutMs + 1 s` gets SIGKILL.
   * @default 30_000
   */
  drainTimeoutMs?: number;
  /** How long the app's cleanup hooks may take in all, after the HTTP drain. Part of the kill deadline. @default 5_000 */
  cleanupTimeoutMs?: number;
  /** Crash restart back-off. @default { initialMs: 100, maxMs: 30_000, multiplier: 2, jitter: 0.2 } */
  backoff?: BackoffOptions;
  /** A worker that exits sooner than this after its fork counts as a quick crash and backs off. @default 1_000 */
  minUptimeMs?: number;
  /** How many workers a rollout replaces at once. @default 1 */
  rolloutBatchSize?: number;
  /** How often workers that loaded the worker module are pinged, and RSS is checked. 0 turns pings off. @default 1_000 */
  heartbeatIntervalMs?: number;
  /**
   * A worker that has not answered a ping for this long is hung: replaced start-first, then killed once the
   * replacement is ready. Found between this and this + one interval. @default 5_000
   */
  heartbeatTimeoutMs?: number;
  /** A worker whose RSS exceeds this many MiB is replaced start-first and drained. 0 turns it off. @default 0 */
  maxMemoryMb?: number;
  /** Where the supervisor logs its steps; `false` silences it. @default a console logger (stderr) */
  logger?: Logger | false;
  /** Pipe the workers' stdout/stderr away instead of sharing the primary's. @default false */
  silent?: boolean;
  /**
   * Load the worker side (`@zero-downtime/core/worker`) into every worker before the app, with a `--require`
   * preload, so an app that imports nothing from this project is drained gently too, and a worker that fails before
   * it is ready is named with its cause. `false` loads nothing into the workers (boot failures are then named by
   * exit code only). @default true
   */
  autoDrain?: boolean;
  /**
   * Serve Prometheus metrics at `http://HOST:PORT/metrics` from the supervisor (`'127.0.0.1:9464'`, `'[::1]:9464'`,
   * port 0 for any free port). Off by default.
   * @default undefined (off)
   */
  metrics?: string;
  /**
   * An already-listening descriptor for the metrics endpoint, at the `metrics` address (what `zdt upgrade` hands
   * the new supervisor).
   * @default undefined (bind `metrics`)
   */
  metricsFd?: number;
  /**
   * Listening sockets the supervisor owns and hands to every worker: `'3000'`, `'127.0.0.1:3000'`, `'[::1]:3000'`,
   * `'unix:/run/app.sock'` (relative to `cwd`), or `{ fd, origin }` for a socket already open (systemd's
   * `LISTEN_FDS`, a previous supervisor's). An app's `listen()` on such a port or path is made on that socket in the
   * worker (the preload does it, so it is loaded even with `autoDrain: false`), and the workers accept on it
   * themselves. The sockets outlive every worker, and `zdt upgrade` hands them to a new supervisor.
   * @default [] (the workers listen through node:cluster, round-robin, as without zdt)
   */
  listen?: ListenOption[];
  /** Sticky routing for Socket.IO, by engine.io session id or client address (not with `listen`). @default undefined (off) */
  sticky?: StickyMode;
  /** Test seam only (see ForkFunction). @default cluster.fork after cluster.setupPrimary */
  fork?: ForkFunction;
}

export interface ResolvedBackoff {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  jitter: number;
}

export interface ResolvedOptions extends ResolvedCanaryOptions {
  entry: string;
  /** `entry` resolved against `cwd` (not realpath'd, so a switched symlink is followed on the next fork). */
  entryPath: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  execArgv: string[];
  workers: number;
  readiness: Readiness;
  readyTimeoutMs: number;
  drainTimeoutMs: number;
  cleanupTimeoutMs: number;
  /** Derived: drainTimeoutMs + cleanupTimeoutMs + KILL_MARGIN_MS, when a stopping worker gets SIGKILL. */
  killAfterMs: number;
  backoff: ResolvedBackoff;
  minUptimeMs: number;
  rolloutBatchSize: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  maxMemoryMb: number;
  /** Derived: maxMemoryMb in bytes, 0 when off. */
  maxMemoryBytes: number;
  /** Derived: how often the health monitor runs (pings and RSS); 0 when it has nothing to do. */
  monitorIntervalMs: number;
  logger: Logger;
  silent: boolean;
  autoDrain: boolean;
  /** Derived from `metrics`: where to serve them, undefined when off. */
  metrics: { host: string; port: number } | undefined;
  metricsFd: number | undefined;
  listen: ListenOption[];
  sticky: StickyMode | undefined;
  fork: ForkFunction | undefined;
}

/** What `reload()` may change besides the code: the next generation is started with these (a re-read configuration). */
export interface ReloadUpdate {
  /** Replaces the workers' extra environment (not merged). */
  env?: Record<string, string | undefined>;
  args?: string[];
  execArgv?: string[];
  /** A new number of workers: added start-first, or removed (drained) before the rollout. */
  workers?: number;
  /** The canary window for this rollout only (0: none), instead of `canaryMs`. */
  canaryMs?: number;
}

export interface ResolvedReloadUpdate {
  env?: Record<string, string>;
  args?: string[];
  execArgv?: string[];
  workers?: number;
  canaryMs?: number;
}

/** Left between the end of a worker's cleanup window and its SIGKILL, for process.exit itself. */
export const KILL_MARGIN_MS = 1_000;

/** Used for the RSS check when pings are off but a memory limit is set. */
const MEMORY_CHECK_FALLBACK_MS = 5_000;

/** The settings table's options, and those only the API sets. */
const KNOWN_OPTIONS = new Set([
  ...SETTING_OPTIONS,
  ...['backoff', 'minUptimeMs', 'heartbeatIntervalMs', 'logger', 'silent', 'metricsFd', 'fork'],
]);

const KNOWN_BACKOFF = new Set(['initialMs', 'maxMs', 'multiplier', 'jitter']);

function integer(option: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  return value === undefined ? fallback : parsed(option, value, wholeNumber(min, max));
}

/** A duration in ms that a node timer can honour. */
function duration(option: string, value: unknown, fallback: number, min: number): number {
  return integer(option, value, fallback, min, MAX_TIMER_MS);
}

function number(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `a number between ${min} and ${max}`, value);
  }
  return value;
}

function stringArray(option: string, value: unknown, fallback: readonly string[]): string[] {
  if (value === undefined) return [...fallback];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new InvalidOptionError(option, 'an array of strings', value);
  }
  return [...value];
}

export function resolveOptions(options: SupervisorOptions): ResolvedOptions {
  if (!isObject(options)) throw new InvalidOptionError('options', 'an object', options);
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new InvalidOptionError(key, `one of ${[...KNOWN_OPTIONS].join(', ')}`, key);
  }
  const { entry } = options;
  if (typeof entry !== 'string' || entry.length === 0) {
    throw new InvalidOptionError('entry', 'a non-empty path to the app entry file', entry);
  }
  const cwd = options.cwd ?? logicalWorkingDirectory();
  if (typeof cwd !== 'string' || cwd.length === 0) throw new InvalidOptionError('cwd', 'a directory path', cwd);

  const env = resolveEnv(options.env);

  const readiness = resolveReadiness(options);
  const backoff = resolveBackoff(options.backoff);

  const heartbeatIntervalMs = duration('heartbeatIntervalMs', options.heartbeatIntervalMs, DEFAULTS.heartbeatIntervalMs, 0);
  const heartbeatTimeoutMs = duration('heartbeatTimeoutMs', options.heartbeatTimeoutMs, DEFAULTS.heartbeatTimeoutMs, 1);
  if (heartbeatIntervalMs > 0 && heartbeatTimeoutMs <= heartbeatIntervalMs) {
    throw new InvalidOptionError(
      'heartbeatTimeoutMs',
      `a number greater than heartbeatIntervalMs (${heartbeatIntervalMs})`,
      heartbeatTimeoutMs,
    );
  }
  const maxMemoryMb = number('maxMemoryMb', options.maxMemoryMb, DEFAULTS.maxMemoryMb, 0, Number.MAX_SAFE_INTEGER);

  if (options.silent !== undefined && typeof options.silent !== 'boolean') {
    throw new InvalidOptionError('silent', 'a boolean', options.silent);
  }
  if (options.autoDrain !== undefined && typeof options.autoDrain !== 'boolean') {
    throw new InvalidOptionError('autoDrain', 'a boolean', options.autoDrain);
  }
  if (options.fork !== undefined && typeof options.fork !== 'function') {
    throw new InvalidOptionError('fork', 'a function (test seam)', options.fork);
  }

  const drainTimeoutMs = duration('drainTimeoutMs', options.drainTimeoutMs, DEFAULTS.drainTimeoutMs, 1);
  const cleanupTimeoutMs = duration('cleanupTimeoutMs', options.cleanupTimeoutMs, DEFAULTS.cleanupTimeoutMs, 0);
  const killAfterMs = drainTimeoutMs + cleanupTimeoutMs + KILL_MARGIN_MS;
  if (killAfterMs > MAX_TIMER_MS) {
    throw new InvalidOptionError(
      'drainTimeoutMs',
      `a value that keeps drainTimeoutMs + cleanupTimeoutMs + ${KILL_MARGIN_MS} at most ${MAX_TIMER_MS}ms`,
      drainTimeoutMs,
    );
  }

  return {
    entry,
    entryPath: path.resolve(cwd, entry),
    args: stringArray('args', options.args, DEFAULTS.args),
    env,
    cwd: path.resolve(cwd),
    execArgv: stringArray('execArgv', options.execArgv, DEFAULTS.execArgv),
    workers: integer('workers', options.workers, DEFAULTS.workers(), 1, 1024),
    readiness,
    readyTimeoutMs: duration('readyTimeoutMs', options.readyTimeoutMs, DEFAULTS.readyTimeoutMs, 1),
    drainTimeoutMs,
    cleanupTimeoutMs,
    killAfterMs,
    backoff,
    minUptimeMs: duration('minUptimeMs', options.minUptimeMs, DEFAULTS.minUptimeMs, 0),
    rolloutBatchSize: integer('rolloutBatchSize', options.rolloutBatchSize, DEFAULTS.rolloutBatchSize, 1),
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    maxMemoryMb,
    maxMemoryBytes: Math.round(maxMemoryMb * 1024 * 1024),
    monitorIntervalMs: heartbeatIntervalMs > 0 ? heartbeatIntervalMs : maxMemoryMb > 0 ? MEMORY_CHECK_FALLBACK_MS : 0,
    logger: resolveLogger(options.logger),
    silent: options.silent ?? DEFAULTS.silent,
    autoDrain: options.autoDrain ?? DEFAULTS.autoDrain,
    metrics: options.metrics === undefined ? undefined : parseListenAddress(options.metrics, 'metrics'),
    metricsFd: options.metricsFd === undefined ? undefined : integer('metricsFd', options.metricsFd, 0, 0),
    ...resolveConnections(options, path.resolve(cwd)),
    ...resolveCanaryOptions(options),
    fork: options.fork,
  };
}

function resolveReadiness(options: SupervisorOptions): Readiness {
  const readiness = parsed('readiness', options.readiness ?? DEFAULTS.readiness, readReadiness);
  if (options.autoDrain === false && probePath(readiness) !== undefined) {
    // The probe runs in the worker side, which autoDrain: false keeps out of the workers: no worker would ever pass.
    throw new InvalidOptionError('readiness', '"listening" or "message" when autoDrain is false (an http: probe runs in the worker side, which autoDrain: false does not load)', readiness);
  }
  return readiness;
}

function resolveBackoff(value: BackoffOptions | undefined): ResolvedBackoff {
  const backoffInput = value ?? {};
  if (!isObject(backoffInput)) throw new InvalidOptionError('backoff', 'an object', backoffInput);
  for (const key of Object.keys(backoffInput)) {
    if (!KNOWN_BACKOFF.has(key)) throw new InvalidOptionError(`backoff.${key}`, 'initialMs, maxMs, multiplier or jitter', key);
  }
  const backoff: ResolvedBackoff = {
    initialMs: duration('backoff.initialMs', backoffInput.initialMs, DEFAULTS.backoff.initialMs, 1),
    maxMs: duration('backoff.maxMs', backoffInput.maxMs, DEFAULTS.backoff.maxMs, 1),
    multiplier: number('backoff.multiplier', backoffInput.multiplier, DEFAULTS.backoff.multiplier, 1, 100),
    jitter: number('backoff.jitter', backoffInput.jitter, DEFAULTS.backoff.jitter, 0, 1),
  };
  if (backoff.maxMs < backoff.initialMs) {
    throw new InvalidOptionError('backoff.maxMs', `a number >= backoff.initialMs (${backoff.initialMs})`, backoff.maxMs);
  }
  return backoff;
}

function resolveLogger(value: Logger | false | undefined): Logger {
  if (value === false) return silentLogger;
  if (value === undefined) return createConsoleLogger();
  if (isLogger(value)) return value;
  throw new InvalidOptionError('logger', 'an object with info, warn, error and debug methods, or false', value);
}

function resolveEnv(value: unknown, option = 'env'): Record<string, string> {
  if (value === undefined) return { ...DEFAULTS.env };
  if (!isObject(value)) throw new InvalidOptionError(option, 'an object of strings', value);
  const env: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (typeof item !== 'string') throw new InvalidOptionError(`${option}.${key}`, 'a string', item);
    env[key] = item;
  }
  return env;
}

const RELOAD_KEYS = new Set(['env', 'args', 'execArgv', 'workers', 'canaryMs']);

/** Validates what a reload may change, with the same rules and messages as the supervisor options. */
export function resolveReloadUpdate(update: ReloadUpdate): ResolvedReloadUpdate {
  if (!isObject(update)) throw new InvalidOptionError('update', 'an object', update);
  for (const key of Object.keys(update)) {
    if (!RELOAD_KEYS.has(key)) throw new InvalidOptionError(key, `one of ${[...RELOAD_KEYS].join(', ')} (what a reload can change)`, key);
  }
  const resolved: ResolvedReloadUpdate = {};
  if (update.env !== undefined) resolved.env = resolveEnv(update.env);
  if (update.args !== undefined) resolved.args = stringArray('args', update.args, []);
  if (update.execArgv !== undefined) resolved.execArgv = stringArray('execArgv', update.execArgv, []);
  if (update.workers !== undefined) resolved.workers = integer('workers', update.workers, 1, 1, 1024);
  if (update.canaryMs !== undefined) resolved.canaryMs = readCanaryMs(update.canaryMs);
  return resolved;
}
