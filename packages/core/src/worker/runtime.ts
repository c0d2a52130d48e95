import cluster from 'node:cluster';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { summarizeError } from '../error-summary.js';
import { WORKER_ENV, type WorkerToPrimary } from '../protocol.js';
import { WorkerDrainState, type DrainState } from './drain-state.js';
import { cleanupDeadlineAt, httpDrainLimitMs, readSupervisorWindows } from './drain-time.js';
import { AcceptGate } from './accept-gate.js';
import { HeldRelease } from './held-release.js';
import { AppMetricsPush, readAppMetrics } from './app-metrics.js';
import { Hooks } from './hooks.js';
import { HttpTracker } from './http-tracker.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './options.js';
import type { ManagedHttpServer, ManagedServer } from './server-drain.js';
import { StatusCount } from './status-count.js';
import { Triggers } from './triggers.js';
import { ReadinessProbe } from './readiness-probe.js';
import { probePath } from '../settings/readiness.js';
import type { DrainReport, DrainStartHook, HealthKind, HealthResponse, ShutdownHook, ShutdownHookOptions } from './types.js';

const RUNTIME_KEY = Symbol.for('zero-downtime.worker');

function readVersion(): string {
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** How often the event-loop delay is sampled (ms): a timer, not per-request work. */
const LOOP_DELAY_RESOLUTION_MS = 20;

/**
 * Mean and max since the last call, in ms; resets the histogram. The samples are the intervals between the
 * sampling timer's runs, so the resolution itself is taken off: an idle loop reads 0.
 */
function readLoopDelay(histogram: IntervalHistogram): { mean: number; max: number } | undefined {
  if (histogram.count === 0) return undefined;
  const delayMs = (nanoseconds: number) => Math.max(0, Math.round((nanoseconds / 1e6 - LOOP_DELAY_RESOLUTION_MS) * 100) / 100);
  const result = { mean: delayMs(histogram.mean), max: delayMs(histogram.max) };
  histogram.reset();
  return result;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * The one lifecycle of a worker process: it owns the drain state and runs the drain, with the triggers, the HTTP
 * tracker and the app's hooks as its parts. It lives on globalThis so that every copy of this module (ESM and CJS
 * builds, two installed versions) drives the same drain: the first copy loaded creates it, the others use it.
 */
export class WorkerRuntime {
  readonly version = readVersion();
  rawOptions: WorkerOptions = {};
  options: ResolvedWorkerOptions = resolveWorkerOptions();

  private readonly lifecycle = new WorkerDrainState();
  private readonly supervised = process.env[WORKER_ENV.supervised] === '1';
  /** Read once, at start: the supervisor gives its time limits through the environment only. */
  private readonly supervisorWindows = readSupervisorWindows(process.env);
  private readonly hooks = new Hooks();
  /** Holds the worker's shared listening sockets until the supervisor counts it ready (accept-gate.ts). */
  private readonly acceptGate = new AcceptGate();
  /** At a final stop: when the connections held while the sockets closed may be answered (held-release.ts). */
  private heldRelease: HeldRelease | undefined;
  private readonly http = new HttpTracker(
    () => this.lifecycle.draining,
    (managed, callback) => this.onServerClose(managed, callback),
  );
  private readonly triggers = new Triggers({
    shutdown: (reason) => void this.shutdown(reason),
    uncaughtException: (error, origin) => this.onUncaughtException(error, origin),
    answerPing: (seq) => {
      this.appMetricsPush?.watchNew();
      void this.send({ zdt: 'pong', seq, rss: process.memoryUsage.rss(), loopDelayMs: this.takeLoopDelay() }, true);
    },
    answerCollect: (requestId) => {
      this.appMetricsPush?.watchNew();
      void readAppMetrics().then((metrics) => this.send({ zdt: 'collected', requestId, metrics }));
    },
    accept: () => {
      this.acceptGate.open();
      void this.send({ zdt: 'accepting' });
    },
    releaseHeld: () => this.heldRelease?.release(),
    countWindow: (window, open) => {
      if (open) this.statusCount.openWindow(window);
      else this.send({ zdt: 'counted', window, ...this.statusCount.closeWindow(window) });
    },
    draining: () => this.lifecycle.draining,
    httpDrained: () => this.lifecycle.httpDrained,
    logger: () => this.options.logger,
  });
  /** Under a supervisor that serves metrics: the app's counters and histograms, pushed as they change. */
  private readonly appMetricsPush =
    this.supervised && process.env[WORKER_ENV.appMetrics] === '1' ? new AppMetricsPush((metrics) => void this.send({ zdt: 'metrics', metrics })) : undefined;
  /** Responses and 5xx during a canary window; subscribed to nothing outside one. */
  private readonly statusCount = new StatusCount();
  private drainPromise: Promise<DrainReport> | undefined;
  private replaceTimer: NodeJS.Timeout | undefined;
  /** Event-loop delay, sampled only under the supervisor (which reports it); undefined elsewhere. */
  private loopDelay: IntervalHistogram | undefined;
  /** Readiness `http:PATH` (read once, from the supervisor's environment): the probe, not ready(), makes the worker ready. */
  private readonly probe = this.createProbe();
  /** Not a state: the process may drain cleanly after one, but its exit status says it happened. */
  private uncaughtExceptionSeen = false;

  private takeLoopDelay(): { mean: number; max: number } | undefined {
    return this.loopDelay ? readLoopDelay(this.loopDelay) : undefined;
  }

  get state(): DrainState {
    return this.lifecycle.current;
  }

  /** Follows servers and connections (not requests) through diagnostics_channel, installs process listeners, greets the supervisor. */
  start(): void {
    if (this.supervised) {
      this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
      this.loopDelay.enable();
    }
    // Readiness 'listening': the first listen is the readiness, nothing to hold.
    if (this.supervised && process.env[WORKER_ENV.readiness] !== undefined && process.env[WORKER_ENV.readiness] !== 'listening') {
      this.acceptGate.install();
    }
    this.http.subscribe();
    this.triggers.listenToMessages(this.supervised);
    this.installProcessListeners();
    this.send({ zdt: 'hello', pid: process.pid, version: this.version });
    // Once the app's main module has run (it registers its metrics as it loads); heartbeats and scrapes watch later ones.
    if (this.appMetricsPush) setImmediate(() => this.appMetricsPush?.watchNew()).unref();
    this.probe?.start();
  }

  private createProbe(): ReadinessProbe | undefined {
    const path = this.supervised ? probePath(process.env[WORKER_ENV.readiness]) : undefined;
    if (path === undefined) return undefined;
    return new ReadinessProbe(path, {
      passed: () => this.becameReady(true),
      failed: (result) => void this.send({ zdt: 'probe', result }),
    });
  }

  /** Removes every listener this runtime installed (used when the drain ends without exiting). */
  stop(): void {
    this.loopDelay?.disable();
    this.appMetricsPush?.uninstall();
    this.probe?.stop();
    this.http.unsubscribe();
    this.statusCount.abandon();
    this.triggers.uninstall();
    clearTimeout(this.replaceTimer);
  }

  applyOptions(raw: WorkerOptions, resolved: ResolvedWorkerOptions): void {
    this.rawOptions = raw;
    this.options = resolved;
    if (!this.lifecycle.draining) this.installProcessListeners();
  }

  private installProcessListeners(): void {
    this.triggers.setSignals(this.options.signals);
    this.triggers.setUncaughtExceptions(this.options.handleUncaughtExceptions);
  }

  /** The HTTP drain limit, by the precedence in drain-time.ts. */
  private httpDrainTimeoutMs(): number {
    return httpDrainLimitMs(this.supervisorWindows, this.rawOptions.drainTimeoutMs);
  }

  /** Supervisor messages other than `pong` go only to a zero-downtime supervisor, never to a foreign primary. */
  private send(message: WorkerToPrimary, answer = false): Promise<void> {
    if (!answer && !this.supervised) return Promise.resolve();
    const send = process.send?.bind(process);
    if (!send || !process.connected) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        // Resolves once written: a channel closed right after (cluster's disconnect) would drop a message still queued.
        send(message, undefined, {}, () => resolve());
      } catch {
        // The channel closed between the check and the send; the supervisor watches the exit anyway.
        resolve();
      }
    });
  }

  private onUncaughtException(error: unknown, origin: string): void {
    this.uncaughtExceptionSeen = true;
    const stack = error instanceof Error ? error.stack : undefined;
    this.options.logger.error({ err: error, origin }, `uncaught exception (${origin}): ${stack ?? String(error)}`);
    this.http.answerFailedRequest();
    if (this.lifecycle.current !== 'running') return;
    if (this.supervised && process.connected) {
      // Keep serving until the supervisor has a replacement ready and sends shutdown; readiness says 503 meanwhile.
      this.lifecycle.transition('replacing');
      const message = error instanceof Error ? error.message : String(error);
      this.send({ zdt: 'replace', reason: `uncaught exception: ${message}`, error: summarizeError(error) });
      this.replaceTimer = setTimeout(() => void this.shutdown('uncaughtException'), this.options.replaceTimeoutMs);
      this.replaceTimer.unref();
      return;
    }
    void this.shutdown('uncaughtException');
  }

  manageServer(server: ManagedHttpServer): void {
    this.http.manage(server, !server.listening);
  }

  /** `close(cb)` on a managed server: node:cluster's disconnect drains the process, anything else that server. */
  private onServerClose(managed: ManagedServer, callback: ((error?: Error) => void) | undefined): void {
    if (this.triggers.serverCloseCalled(callback)) return;
    this.http.closeOne(managed, Date.now() + this.httpDrainTimeoutMs(), callback);
  }

  /** ready() from the app: under readiness `http:PATH` only the probe decides, so it changes nothing there. */
  ready(): void {
    if (this.probe) {
      this.options.logger.debug({}, 'ready() ignored: under an http: readiness the health probe decides');
      return;
    }
    this.becameReady(false);
  }

  /** The one moment this worker becomes ready: ready() under readiness 'message', a passing probe under 'http:PATH'. */
  private becameReady(byProbe: boolean): void {
    this.send(byProbe ? { zdt: 'ready', probe: true } : { zdt: 'ready' });
    // PM2's wait_ready listens for the bare string.
    if (process.env.pm_id !== undefined && typeof process.send === 'function' && process.connected) {
      try {
        process.send('ready');
      } catch {
        // Channel gone: PM2 will time out wait_ready by itself.
      }
    }
  }

  addShutdownHook(hook: ShutdownHook, options: ShutdownHookOptions): () => void {
    return this.hooks.addShutdownHook(hook, options);
  }

  addDrainStartHook(hook: DrainStartHook): () => void {
    return this.hooks.addDrainStartHook(hook);
  }

  healthResponse(kind: HealthKind): HealthResponse {
    if (kind === 'readiness' && !this.lifecycle.serving) return { status: 503, body: { status: 'draining' } };
    return { status: 200, body: { status: 'ok' } };
  }

  markResponse(response: ServerResponse): void {
    this.http.markResponse(response);
  }

  /** Every trigger ends here; the first starts the drain, later ones join it. */
  shutdown(reason: string): Promise<DrainReport> {
    this.drainPromise ??= this.drain(reason);
    return this.drainPromise;
  }

  /** At a stop of the whole service, what its servers' last close needs (held-release.ts); undefined otherwise. */
  private lastClose(reason: string): HeldRelease | undefined {
    if (reason !== 'stop' && cluster.isWorker) return undefined;
    const tell = this.supervised && cluster.isWorker ? () => void this.send({ zdt: 'listening-closed' }) : undefined;
    return (this.heldRelease = new HeldRelease(tell));
  }

  private async drain(reason: string): Promise<DrainReport> {
    const startedAt = Date.now();
    const { logger, idleGraceMs, shutdownDelayMs, cleanupTimeoutMs } = this.options;
    clearTimeout(this.replaceTimer);
    const drainTimeoutMs = this.httpDrainTimeoutMs();
    const deadlineAt = startedAt + drainTimeoutMs;
    this.lifecycle.transition('draining');
    this.probe?.stop();
    // From now on (shutdownDelayMs included) every response carries Connection: close: the first per-request work.
    this.http.followRequests(true);
    this.send({ zdt: 'draining', reason });
    logger.info({ reason, drainTimeoutMs, servers: this.http.size }, `draining (${reason})`);

    // In a cluster worker the primary stops routing as soon as the server closes, so only a standalone process
    // (behind a load balancer polling readiness) gains anything from waiting.
    if (shutdownDelayMs > 0 && !cluster.isWorker) await sleep(Math.min(shutdownDelayMs, drainTimeoutMs));

    // A stop of the whole service (the supervisor's stop, or a process on its own): the sockets close for good.
    this.http.stopListening(deadlineAt, idleGraceMs, this.lastClose(reason));
    this.hooks.callDrainStart(reason, () => this.http.longLived(), deadlineAt, logger);
    const { cut, cutLongLived, served, inFlightAtStart, idleClosed, unprocessed } = await this.http.whenAllClosed();
    const report: DrainReport = {
      reason,
      clean: cut === 0,
      cut,
      cutLongLived,
      served,
      inFlightAtStart,
      idleClosed,
      unprocessed,
      durationMs: Date.now() - startedAt,
    };
    if (cut > 0) logger.warn(report, `drain deadline reached: cut ${cut} connection(s)`);
    else logger.info(report, 'HTTP drained');

    this.lifecycle.transition('cleanup');
    await this.send({
      zdt: 'drained',
      clean: report.clean,
      cut,
      cutLongLived,
      inFlight: inFlightAtStart,
      served,
      idleClosed,
      unprocessed,
      durationMs: report.durationMs,
      appMetrics: this.supervised ? await readAppMetrics() : null,
    });
    // After 'drained' is written: the last of node:cluster's close callbacks closes the IPC channel.
    this.triggers.releaseCloseCallbacks();
    const cleanupStartedAt = Date.now();
    const cleanupFailures = await this.hooks.runShutdown(
      { reason, report },
      cleanupTimeoutMs,
      cleanupDeadlineAt(startedAt, this.supervisorWindows),
      logger,
    );
    // The supervisor disconnects the worker once it has this: send it before anything may exit.
    await this.send({ zdt: 'cleaned', durationMs: Date.now() - cleanupStartedAt, failures: cleanupFailures });

    const code = this.uncaughtExceptionSeen || !report.clean || cleanupFailures > 0 ? 1 : 0;
    this.lifecycle.transition('exiting');
    // Last, the app's own PM2-style shutdown listeners, which usually end with process.exit(): they see no request.
    const appListeners = this.supervised && this.options.exit ? this.triggers.callAppShutdownListeners(reason) : 0;
    if (appListeners > 0) {
      // Their cleanup is theirs to finish: exit when they exit, when nothing is left to do, or at the deadline.
      process.exitCode = code;
      process.once('beforeExit', () => process.exit(code));
      const remainingMs = cleanupDeadlineAt(startedAt, this.supervisorWindows) - Date.now();
      setTimeout(() => process.exit(code), Math.max(0, Math.min(remainingMs, cleanupTimeoutMs))).unref();
    } else if (this.options.exit) {
      // Awaiters of shutdown() get the report first (an unref'd immediate would wait for the next I/O wake-up).
      process.exitCode = code;
      setImmediate(() => process.exit(code));
    } else {
      this.stop();
    }
    return report;
  }
}

export function getRuntime(): WorkerRuntime {
  const store = globalThis as unknown as Record<symbol, WorkerRuntime | undefined>;
  let runtime = store[RUNTIME_KEY];
  if (!runtime) {
    runtime = new WorkerRuntime();
    store[RUNTIME_KEY] = runtime;
    runtime.start();
  }
  return runtime;
}
