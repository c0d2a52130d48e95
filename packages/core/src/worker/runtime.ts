import cluster from 'node:cluster';
import diagnosticsChannel from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { isProtocolMessage, WORKER_ENV, type PrimaryToWorker, type WorkerToPrimary } from '../protocol.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './options.js';
import { ManagedServer, type ManagedHttpServer } from './server-drain.js';
import type {
  DrainReport,
  DrainStartHook,
  DrainState,
  HealthKind,
  HealthResponse,
  ShutdownHook,
  ShutdownHookOptions,
  ShutdownInfo,
} from './types.js';

const RUNTIME_KEY = Symbol.for('zero-downtime.worker');
/** Left between the end of cleanup and the supervisor's SIGKILL, for process.exit itself. */
const EXIT_MARGIN_MS = 100;

interface RegisteredShutdownHook {
  hook: ShutdownHook;
  name: string;
  timeoutMs: number | undefined;
}

interface RequestChannelMessage {
  request: unknown;
  response: ServerResponse;
  socket: Socket;
  server: ManagedHttpServer;
}

type Outcome = { kind: 'ok' } | { kind: 'timeout' } | { kind: 'error'; error: unknown };

function readVersion(): string {
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** An http(s) server in Node >= 18.2 (the only kind the drain knows how to handle). */
function isHttpServer(value: unknown): value is ManagedHttpServer {
  const candidate = value as Partial<ManagedHttpServer> | null | undefined;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.closeIdleConnections === 'function' &&
    typeof candidate.closeAllConnections === 'function'
  );
}

/** tls servers wrap the raw socket: http sees the wrapping socket, announced by 'secureConnection'. */
function isTlsServer(server: ManagedHttpServer): boolean {
  return typeof (server as { addContext?: unknown }).addContext === 'function';
}

/**
 * Runs a hook with a bound. `holdProcess` keeps the bound's timer referenced: a cleanup hook awaiting a promise that
 * nothing else keeps alive must still time out so the next hooks run, instead of node exiting in the middle.
 */
function runBounded(run: () => unknown, timeoutMs: number, holdProcess = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
    if (!holdProcess) timer.unref();
    Promise.resolve()
      .then(run)
      .then(
        () => {
          clearTimeout(timer);
          resolve({ kind: 'ok' });
        },
        (error: unknown) => {
          clearTimeout(timer);
          resolve({ kind: 'error', error });
        },
      );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * The one lifecycle of a worker process. It lives on globalThis so that every copy of this module (ESM and CJS
 * builds, two installed versions) drives the same drain: the first copy loaded creates it, the others use it.
 */
export class WorkerRuntime {
  readonly version = readVersion();
  rawOptions: WorkerOptions = {};
  options: ResolvedWorkerOptions = resolveWorkerOptions();
  state: DrainState = 'running';

  private readonly supervised = process.env[WORKER_ENV.supervised] === '1';
  private readonly servers = new Map<ManagedHttpServer, ManagedServer>();
  private readonly shutdownHooks: RegisteredShutdownHook[] = [];
  private readonly drainStartHooks = new Set<DrainStartHook>();
  private drainPromise: Promise<DrainReport> | undefined;
  private drainDeadlineAt = Number.POSITIVE_INFINITY;
  private cleanupDeadlineAt = Number.POSITIVE_INFINITY;
  private listeningStopped = false;
  private httpDrained = false;
  private readonly heldCloseCallbacks: Array<(error?: Error) => void> = [];
  private replaceRequested = false;
  private uncaughtException = false;
  private signalsReceived = 0;
  private replaceTimer: NodeJS.Timeout | undefined;
  private signalsInstalled = false;
  private uncaughtInstalled = false;
  private messagesInstalled = false;

  private readonly onNetSocket = (message: unknown): void => {
    const socket = (message as { socket: Socket & { server?: unknown } }).socket;
    const server = socket.server;
    if (!isHttpServer(server)) return;
    const managed = this.manage(server, true);
    // tls wraps this raw socket; the managed server follows the wrapping socket from 'secureConnection'.
    if (!isTlsServer(server)) managed.trackConnection(socket);
  };

  private readonly onRequestStart = (message: unknown): void => {
    const { response, socket, server } = message as RequestChannelMessage;
    if (!isHttpServer(server)) return;
    // An exception thrown before the next tick was thrown synchronously by this request's handler (node's parser
    // calls it right after this channel): remembering it costs nothing and lets that request get a 500.
    if (this.requestOfThisTick === undefined) process.nextTick(this.forgetRequestOfThisTick);
    this.requestOfThisTick = response;
    const managed = this.manage(server, false);
    managed.requestStarted(socket, response);
    if (this.state !== 'running' || managed.closing) ManagedServer.markClose(response);
  };

  private requestOfThisTick: ServerResponse | undefined;
  private readonly forgetRequestOfThisTick = (): void => {
    this.requestOfThisTick = undefined;
  };

  private readonly onResponseFinish = (message: unknown): void => {
    const { response, socket, server } = message as RequestChannelMessage;
    this.servers.get(server)?.responseFinished(socket, response);
  };

  private readonly onMessage = (message: unknown): void => {
    // PM2 sends the bare string when the app sets shutdown_with_message.
    if (message === 'shutdown') {
      void this.shutdown('shutdown message');
      return;
    }
    if (!isProtocolMessage(message)) return;
    const handler = this.messageHandlers[message.zdt as PrimaryToWorker['zdt']];
    if (handler) handler(message as never);
  };

  private readonly messageHandlers: { [Verb in PrimaryToWorker['zdt']]: (message: Extract<PrimaryToWorker, { zdt: Verb }>) => void } = {
    shutdown: (message) => {
      void this.shutdown(String(message.reason ?? 'shutdown'));
    },
    ping: (message) => {
      this.send({ zdt: 'pong', seq: message.seq, rss: process.memoryUsage.rss() }, true);
    },
  };

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.signalsReceived += 1;
    if (this.signalsReceived > 1) {
      this.options.logger.warn({ signal }, `second ${signal} while draining: exiting now`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    void this.shutdown(signal);
  };

  private readonly onUncaughtException = (error: Error, origin: string): void => {
    this.uncaughtException = true;
    this.options.logger.error({ err: error, origin }, `uncaught exception (${origin}): ${error?.stack ?? String(error)}`);
    this.answerFailedRequest();
    if (this.drainPromise || this.replaceRequested) return;
    if (this.supervised && process.connected) {
      // Keep serving until the supervisor has a replacement ready and sends shutdown; readiness already says 503.
      this.replaceRequested = true;
      this.send({ zdt: 'replace', reason: `uncaught exception: ${error?.message ?? String(error)}` });
      this.replaceTimer = setTimeout(() => void this.shutdown('uncaughtException'), this.options.replaceTimeoutMs);
      this.replaceTimer.unref();
      return;
    }
    void this.shutdown('uncaughtException');
  };

  /**
   * The request whose handler threw synchronously would never be answered and its connection's parser is left
   * broken: answer 500 and close that connection, so the drain does not wait for it until the deadline.
   */
  private answerFailedRequest(): void {
    const response = this.requestOfThisTick;
    this.requestOfThisTick = undefined;
    if (!response || response.headersSent || response.writableEnded) return;
    try {
      ManagedServer.markClose(response);
      response.statusCode = 500;
      response.setHeader('content-type', 'text/plain; charset=utf-8');
      response.end('Internal Server Error');
    } catch {
      response.destroy();
    }
  }

  /** Subscribes to the http diagnostics channels, installs process listeners and greets the supervisor. */
  start(): void {
    diagnosticsChannel.subscribe('net.server.socket', this.onNetSocket);
    diagnosticsChannel.subscribe('http.server.request.start', this.onRequestStart);
    diagnosticsChannel.subscribe('http.server.response.finish', this.onResponseFinish);
    // A 'message' listener keeps the IPC channel (and so the process) alive: listen only where someone talks to us
    // (our supervisor, PM2, a node:cluster primary, whose workers keep the channel alive anyway), not in any child
    // that happens to have a channel.
    const managedProcess = this.supervised || cluster.isWorker || process.env.pm_id !== undefined;
    if (typeof process.send === 'function' && managedProcess) {
      process.on('message', this.onMessage);
      this.messagesInstalled = true;
    }
    this.installProcessListeners();
    this.send({ zdt: 'hello', pid: process.pid, version: this.version });
  }

  /** Removes every listener this runtime installed (used when the drain ends without exiting). */
  stop(): void {
    diagnosticsChannel.unsubscribe('net.server.socket', this.onNetSocket);
    diagnosticsChannel.unsubscribe('http.server.request.start', this.onRequestStart);
    diagnosticsChannel.unsubscribe('http.server.response.finish', this.onResponseFinish);
    if (this.messagesInstalled) process.removeListener('message', this.onMessage);
    this.messagesInstalled = false;
    this.setSignals(false);
    this.setUncaught(false);
    if (this.replaceTimer) clearTimeout(this.replaceTimer);
  }

  applyOptions(raw: WorkerOptions, resolved: ResolvedWorkerOptions): void {
    this.rawOptions = raw;
    this.options = resolved;
    if (this.state === 'running') this.installProcessListeners();
  }

  private installProcessListeners(): void {
    this.setSignals(this.options.signals);
    this.setUncaught(this.options.handleUncaughtExceptions);
  }

  private setSignals(on: boolean): void {
    if (on === this.signalsInstalled) return;
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      if (on) process.on(signal, this.onSignal);
      else process.removeListener(signal, this.onSignal);
    }
    this.signalsInstalled = on;
  }

  private setUncaught(on: boolean): void {
    if (on === this.uncaughtInstalled) return;
    if (on) process.on('uncaughtException', this.onUncaughtException);
    else process.removeListener('uncaughtException', this.onUncaughtException);
    this.uncaughtInstalled = on;
  }

  /** Supervisor messages other than `pong` go only to a zero-downtime supervisor, never to a foreign primary. */
  private send(message: WorkerToPrimary, answer = false): void {
    if (!answer && !this.supervised) return;
    if (typeof process.send !== 'function' || !process.connected) return;
    try {
      process.send(message, undefined, {}, () => {
        // A channel closing under us is the supervisor's business (it watches exit); nothing to do here.
      });
    } catch {
      // Same as above: the channel closed between the check and the send.
    }
  }

  manageServer(server: ManagedHttpServer): void {
    this.manage(server, !server.listening);
  }

  private manage(server: ManagedHttpServer, fullyTracked: boolean): ManagedServer {
    let managed = this.servers.get(server);
    if (managed) return managed;
    managed = new ManagedServer(server, fullyTracked, (target, callback) =>
      this.onServerClose(target, callback),
    );
    this.servers.set(server, managed);
    if (this.listeningStopped) managed.beginClose(this.drainDeadlineAt, this.options.idleGraceMs);
    return managed;
  }

  /** `close(cb)` on a managed server: node:cluster's disconnect drains the process, anything else that server. */
  private onServerClose(managed: ManagedServer, callback: ((error?: Error) => void) | undefined): void {
    const disconnecting = cluster.isWorker && cluster.worker?.exitedAfterDisconnect === true;
    if (disconnecting || this.drainPromise) {
      void this.shutdown('disconnect');
      if (callback) {
        // Hold node:cluster's callback until the HTTP drain is done: the last one makes it close the IPC channel.
        if (this.httpDrained) callback();
        else this.heldCloseCallbacks.push(callback);
      }
      return;
    }
    // The app (or a test helper) closing one server: no grace for idle sockets, as with node's own close.
    managed.beginClose(Date.now() + this.options.drainTimeoutMs, 0);
    void managed.whenClosed().then(() => {
      if (this.state === 'running' && this.servers.get(managed.server) === managed) {
        this.servers.delete(managed.server);
        managed.release();
      }
      callback?.();
    });
  }

  ready(): void {
    this.send({ zdt: 'ready' });
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
    const entry: RegisteredShutdownHook = {
      hook,
      name: options.name ?? (hook.name || `hook ${this.shutdownHooks.length + 1}`),
      timeoutMs: options.timeoutMs,
    };
    this.shutdownHooks.push(entry);
    return () => {
      const index = this.shutdownHooks.indexOf(entry);
      if (index !== -1) this.shutdownHooks.splice(index, 1);
    };
  }

  addDrainStartHook(hook: DrainStartHook): () => void {
    const wrapped: DrainStartHook = (info) => hook(info);
    this.drainStartHooks.add(wrapped);
    return () => {
      this.drainStartHooks.delete(wrapped);
    };
  }

  healthResponse(kind: HealthKind): HealthResponse {
    if (kind === 'readiness' && (this.state !== 'running' || this.replaceRequested)) {
      return { status: 503, body: { status: 'draining' } };
    }
    return { status: 200, body: { status: 'ok' } };
  }

  markResponse(response: ServerResponse): void {
    const server = (response.socket as (Socket & { server?: ManagedHttpServer }) | null)?.server;
    const managed = server ? this.servers.get(server) : undefined;
    if (this.state !== 'running' || managed?.closing) ManagedServer.markClose(response);
  }

  /**
   * The budget the supervisor gives (its shutdown message, or the environment it forked us with), after which it
   * SIGKILLs.
   */
  private supervisorBudgetMs(messageBudgetMs: number | undefined): number | undefined {
    if (typeof messageBudgetMs === 'number' && Number.isFinite(messageBudgetMs) && messageBudgetMs > 0) {
      return messageBudgetMs;
    }
    if (!this.supervised) return undefined;
    const fromEnvironment = Number(process.env[WORKER_ENV.drainTimeoutMs]);
    return Number.isFinite(fromEnvironment) && fromEnvironment > 0 ? fromEnvironment : undefined;
  }

  /** The HTTP drain gets at most 75% of the supervisor's budget (at least 250 ms kept back) so cleanup fits. */
  private httpDrainTimeoutMs(budgetMs: number | undefined): number {
    if (budgetMs === undefined) return this.options.drainTimeoutMs;
    const margin = Math.min(Math.max(budgetMs * 0.25, 250), budgetMs / 2);
    return Math.min(this.options.drainTimeoutMs, budgetMs - margin);
  }

  shutdown(reason: string, budgetMs?: number): Promise<DrainReport> {
    const budget = this.supervisorBudgetMs(budgetMs);
    if (this.drainPromise) {
      if (budgetMs !== undefined) this.tightenDeadline(budget);
      return this.drainPromise;
    }
    this.drainPromise = this.drain(reason, budget);
    return this.drainPromise;
  }

  /** A supervisor budget arriving after the drain started (signal first, shutdown message next) may only shorten it. */
  private tightenDeadline(budgetMs: number | undefined): void {
    if (budgetMs === undefined) return;
    const now = Date.now();
    this.cleanupDeadlineAt = Math.min(this.cleanupDeadlineAt, now + budgetMs - EXIT_MARGIN_MS);
    const deadlineAt = now + this.httpDrainTimeoutMs(budgetMs);
    if (deadlineAt >= this.drainDeadlineAt) return;
    this.drainDeadlineAt = deadlineAt;
    if (this.listeningStopped) {
      for (const managed of this.servers.values()) managed.beginClose(deadlineAt, this.options.idleGraceMs);
    }
  }

  private async drain(reason: string, budgetMs: number | undefined): Promise<DrainReport> {
    const startedAt = Date.now();
    const { logger, idleGraceMs, shutdownDelayMs } = this.options;
    if (this.replaceTimer) clearTimeout(this.replaceTimer);
    this.state = 'draining';
    this.send({ zdt: 'draining', reason });
    const httpTimeoutMs = this.httpDrainTimeoutMs(budgetMs);
    this.drainDeadlineAt = startedAt + httpTimeoutMs;
    if (budgetMs !== undefined) this.cleanupDeadlineAt = startedAt + budgetMs - EXIT_MARGIN_MS;
    logger.info({ reason, drainTimeoutMs: httpTimeoutMs, servers: this.servers.size }, `draining (${reason})`);

    // In a cluster worker the primary stops routing as soon as the server closes, so only a standalone process
    // (behind a load balancer polling readiness) gains anything from waiting.
    if (shutdownDelayMs > 0 && !cluster.isWorker) await sleep(Math.min(shutdownDelayMs, httpTimeoutMs));

    this.listeningStopped = true;
    for (const managed of this.servers.values()) managed.beginClose(this.drainDeadlineAt, idleGraceMs);
    this.callDrainStartHooks(reason);

    // Servers found while waiting (a request on one we had not seen) join the drain; loop until none is new.
    let settled: ManagedServer[] = [];
    let results: Array<{ cut: number; served: number }> = [];
    while (settled.length < this.servers.size) {
      settled = [...this.servers.values()];
      results = await Promise.all(settled.map((managed) => managed.whenClosed()));
    }
    const cut = results.reduce((sum, result) => sum + result.cut, 0);
    const served = results.reduce((sum, result) => sum + result.served, 0);
    const report: DrainReport = { reason, clean: cut === 0, cut, served, durationMs: Date.now() - startedAt };
    this.httpDrained = true;
    if (cut > 0) logger.warn(report, `drain deadline reached: cut ${cut} connection(s)`);
    else logger.info(report, 'HTTP drained');
    this.send({ zdt: 'drained', clean: report.clean, cut });
    for (const callback of this.heldCloseCallbacks.splice(0)) callback();

    this.state = 'cleanup';
    const cleanupSucceeded = await this.runShutdownHooks({ reason, report });
    const code = this.uncaughtException || !report.clean || !cleanupSucceeded ? 1 : 0;
    this.state = 'exiting';
    if (this.options.exit) {
      // Awaiters of shutdown() get the report first (an unref'd immediate would wait for the next I/O wake-up).
      process.exitCode = code;
      setImmediate(() => process.exit(code));
    } else {
      this.stop();
    }
    return report;
  }

  private callDrainStartHooks(reason: string): void {
    if (this.drainStartHooks.size === 0) return;
    const longLived = new Set<Socket | ServerResponse>();
    for (const managed of this.servers.values()) for (const exchange of managed.longLived()) longLived.add(exchange);
    for (const hook of this.drainStartHooks) {
      void runBounded(() => hook({ reason, longLived }), Math.max(0, this.drainDeadlineAt - Date.now())).then((outcome) => {
        if (outcome.kind === 'error') this.options.logger.error({ err: outcome.error }, 'onDrainStart hook failed');
      });
    }
  }

  /** Cleanup in registration order, each bounded, never past the supervisor's kill deadline. */
  private async runShutdownHooks(info: ShutdownInfo): Promise<boolean> {
    let succeeded = true;
    for (const entry of [...this.shutdownHooks]) {
      const boundMs = Math.max(
        0,
        Math.min(entry.timeoutMs ?? this.options.cleanupTimeoutMs, this.cleanupDeadlineAt - Date.now()),
      );
      const outcome = await runBounded(() => entry.hook(info), boundMs, true);
      if (outcome.kind === 'timeout') {
        succeeded = false;
        this.options.logger.warn({ hook: entry.name, timeoutMs: boundMs }, `cleanup hook "${entry.name}" timed out`);
      } else if (outcome.kind === 'error') {
        succeeded = false;
        this.options.logger.error({ hook: entry.name, err: outcome.error }, `cleanup hook "${entry.name}" failed`);
      }
    }
    return succeeded;
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
