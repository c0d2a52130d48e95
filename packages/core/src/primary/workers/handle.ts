/**
 * The primary's view of one worker process. Its state changes only through
 * transition(), which checks the move and then emits, so every listener sees
 * the same order of states. The stop protocol lives here because it is the
 * same whoever asks for it (rollout, memory limit, stop()).
 */
import { EventEmitter } from 'node:events';
import type { Worker as ClusterWorker } from 'node:cluster';
import type { Socket } from 'node:net';
import { describeError } from '../../error-summary.js';
import type { Readiness } from '../../options.js';
import { isProtocolMessage, type ErrorSummary, type PrimaryToWorker, type ShutdownReason, type WorkerToPrimary } from '../../protocol.js';
import { codeFingerprint, type Release } from '../releases/release.js';

export type WorkerState = 'starting' | 'ready' | 'stopping' | 'exited';

const ALLOWED_MOVES: Record<WorkerState, readonly WorkerState[]> = {
  starting: ['ready', 'stopping', 'exited'],
  ready: ['stopping', 'exited'],
  stopping: ['exited'],
  exited: [],
};

/** Why the supervisor stopped or killed a worker. Logs print it; nothing parses it. */
export type StopCause =
  | { kind: 'drain'; reason: ShutdownReason }
  | { kind: 'kill'; reason: 'not-ready' | 'boot-failed' | 'hung' | 'forced' };

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The supervisor asked it to stop (or killed it); anything else is a crash. */
  expected: boolean;
  uptimeMs: number;
  /** Why the supervisor stopped it, when it did, as a word for logs (`reload`, `hung`, `not-ready`...). */
  stopReason: string | undefined;
  /** Still running at its kill deadline after a drain was asked: SIGKILLed, so whatever it was serving was cut. */
  killedAtDeadline: boolean;
  /** The uncaught error the worker reported before it died, when it reported one. */
  error: ErrorSummary | undefined;
}

/** How a worker ended, in words, for the log and the errors that name it. */
export function describeExit(exit: WorkerExit): string {
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  const cause = exit.error ? `: ${describeError(exit.error)}` : '';
  if (exit.expected) return `${how} after it was stopped (${exit.stopReason})${cause}`;
  return `${how}${cause}`;
}

export interface ListeningAddress {
  address: string;
  /** -1 for a Unix socket. */
  port: number;
  /** Set when the worker listens on a socket the supervisor owns: that socket's address (`--listen`). */
  listener?: string;
}

/** `host:port`, or the path of a Unix socket. */
export function describeAddress({ address, port }: ListeningAddress): string {
  return port < 0 ? address : `${address}:${port}`;
}

/** What the worker's own HTTP drain reported (worker module only). */
export interface DrainOutcome {
  clean: boolean;
  cut: number;
  cutLongLived: number;
  inFlight: number;
  served: number;
  idleClosed: number;
  unprocessed: number;
  durationMs: number | undefined;
}

/** What the worker's cleanup hooks did (worker module only). */
export interface CleanupOutcome {
  durationMs: number;
  failures: number;
}

export interface WorkerHandleEvents {
  state: [{ from: WorkerState; to: WorkerState }];
  /** The worker reported a failure (uncaught exception, replace request) while it was still starting. */
  'boot-failed': [{ reason: string; error: ErrorSummary | undefined }];
  listening: [ListeningAddress];
  /** Its shared sockets accept (the answer to `accept`). */
  accepting: [];
  message: [WorkerToPrimary];
  /** An object message that is not zdt's (the app's, or @socket.io/cluster-adapter's), for the relays. */
  'app-message': [object];
  exit: [WorkerExit];
}

export class WorkerHandle extends EventEmitter<WorkerHandleEvents> {
  readonly id: number;
  readonly release: Release;
  /** The entry's fingerprint when this worker was forked; another than its release's means files overwritten in place. */
  readonly forkedCode: string | undefined;
  readonly pid: number;
  readonly forkedAt = Date.now();
  readonly exited: Promise<WorkerExit>;
  readyAt: number | undefined;
  private currentState: WorkerState = 'starting';
  private stopCause: StopCause | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private killedAtDeadline = false;
  private readonly worker: ClusterWorker;
  private readonly readiness: Readiness;
  private protocol = false;
  /** The worker said its shared sockets accept (answer to `accept`). */
  private accepting = false;
  private heardAt = 0;
  private pingSeq = 0;
  private rss: number | undefined;
  private lastError: ErrorSummary | undefined;
  private drain: DrainOutcome | undefined;
  private cleanup: CleanupOutcome | undefined;
  private loopDelay: { mean: number; max: number } | undefined;
  private probeResult: string | undefined;

  constructor(worker: ClusterWorker, id: number, release: Release, readiness: Readiness) {
    super();
    this.worker = worker;
    this.id = id;
    this.release = release;
    this.forkedCode = release.code === undefined ? undefined : codeFingerprint(release.entryPath);
    this.readiness = readiness;
    this.pid = worker.process.pid ?? -1;
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(this.killTimer);
        const cause = this.stopCause;
        const exit: WorkerExit = {
          code,
          signal,
          expected: cause !== undefined,
          uptimeMs: Date.now() - this.forkedAt,
          stopReason: cause?.reason,
          killedAtDeadline: this.killedAtDeadline,
          error: this.lastError,
        };
        this.transition('exited');
        this.emit('exit', exit);
        resolve(exit);
      });
    });
    // A failed fork (e.g. EAGAIN) surfaces as 'error' and then 'exit'; without a listener it would throw in the primary.
    worker.on('error', () => {});
    worker.on('listening', (address: { address?: string | null; port?: number }) => {
      if (this.readiness === 'listening') this.markReady();
      this.emit('listening', { address: address.address ?? '', port: address.port ?? 0 });
    });
    worker.on('message', (message: unknown) => {
      if (isProtocolMessage(message)) this.emit('message', message as WorkerToPrimary);
      // An app written for PM2's wait_ready says process.send('ready'): the same as ready() from the worker module.
      else if (message === 'ready') this.emit('message', { zdt: 'ready' });
      else if (typeof message === 'object' && message !== null) this.emit('app-message', message);
    });
  }

  get generation(): number {
    return this.release.generation;
  }

  /** Forked from files overwritten in place since its generation was first forked: it runs other code under its number. */
  get overwritten(): boolean {
    return this.forkedCode !== this.release.code;
  }

  get state(): WorkerState {
    return this.currentState;
  }

  get uptimeMs(): number {
    return Date.now() - this.forkedAt;
  }

  get isAlive(): boolean {
    return this.currentState !== 'exited';
  }

  /** The worker module is loaded: it answers pings, so silence means it is hung. */
  get speaksProtocol(): boolean {
    return this.protocol;
  }

  get silentForMs(): number {
    return Date.now() - this.heardAt;
  }

  get reportedRssBytes(): number | undefined {
    return this.rss;
  }

  /** The last uncaught error the worker reported. */
  get reportedError(): ErrorSummary | undefined {
    return this.lastError;
  }

  get drainOutcome(): DrainOutcome | undefined {
    return this.drain;
  }

  get cleanupOutcome(): CleanupOutcome | undefined {
    return this.cleanup;
  }

  /** Event-loop delay over the last heartbeat interval, in ms, as the worker module measured it. */
  get loopDelayMs(): { mean: number; max: number } | undefined {
    return this.loopDelay;
  }

  get lastHeardAt(): number {
    return this.heardAt;
  }

  /** Why the supervisor stopped it (`reload`, `stop`, `hung`...), when it did. */
  get stopReason(): string | undefined {
    return this.stopCause?.reason;
  }

  get stopRequested(): boolean {
    return this.stopCause !== undefined;
  }

  transition(to: WorkerState): void {
    const from = this.currentState;
    if (!ALLOWED_MOVES[from].includes(to)) {
      throw new Error(`worker ${this.id} (pid ${this.pid}): illegal state move ${from} -> ${to}`);
    }
    this.currentState = to;
    if (to === 'ready') {
      this.readyAt = Date.now();
      // Pings sent during a long boot went unanswered legitimately; the hang clock starts at ready.
      this.heardAt = this.readyAt;
      // The worker side holds the worker's shared listening sockets until now (worker/accept-gate.ts).
      if (this.protocol) this.send({ zdt: 'accept' });
    }
    this.emit('state', { from, to });
  }

  /** `accepting`: the worker's shared sockets accept (worker/accept-gate.ts). */
  confirmAccepting(): void {
    this.accepting = true;
    this.emit('accepting');
  }

  /**
   * Resolves once a ready worker accepts from its shared sockets: at once under readiness 'listening' (nothing is
   * held) or for a worker without the worker side (it never held anything); otherwise when it answers `accept`,
   * or after `timeoutMs`, or when it exits.
   */
  whenAccepting(timeoutMs: number): Promise<void> {
    if (this.accepting || !this.protocol || this.readiness === 'listening' || !this.isAlive) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('accepting', done);
        this.off('exit', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.on('accepting', done);
      this.on('exit', done);
    });
  }

  /** Ready by the configured readiness rule; later signals of readiness change nothing. */
  markReady(): void {
    if (this.currentState === 'starting') this.transition('ready');
  }

  /** `listening` from the preload: a listen on a socket the supervisor owns, which node:cluster never sees. */
  listenedOnInherited(address: ListeningAddress): void {
    if (this.readiness === 'listening') this.markReady();
    this.emit('listening', address);
  }

  /** The latest failed readiness probe the worker reported (readiness `http:PATH`), for the not-ready error. */
  get lastProbe(): string | undefined {
    return this.probeResult;
  }

  probed(result: string): void {
    this.probeResult = result;
  }

  /** `hello`: the worker module is loaded. */
  greeted(): void {
    this.protocol = true;
    this.heardAt = Date.now();
  }

  /** `pong`: alive, with its RSS and event-loop delay. */
  answered(rssBytes: number | undefined, loopDelayMs?: { mean: number; max: number }): void {
    this.heardAt = Date.now();
    if (typeof rssBytes === 'number') this.rss = rssBytes;
    if (loopDelayMs) this.loopDelay = loopDelayMs;
  }

  reportError(error: ErrorSummary): void {
    this.lastError = error;
  }

  /** A failure reported while starting ends the start at once: whoever waits for ready hears it now. */
  failBoot(reason: string, error: ErrorSummary | undefined): void {
    if (this.currentState === 'starting') this.emit('boot-failed', { reason, error });
  }

  reportDrain(outcome: DrainOutcome): void {
    this.drain = outcome;
  }

  reportCleanup(outcome: CleanupOutcome): void {
    this.cleanup = outcome;
    // The last report is in: cluster may now close the channel, so a worker that does not exit by itself still can.
    if (this.currentState === 'stopping') this.disconnect();
  }

  ping(): void {
    this.send({ zdt: 'ping', seq: ++this.pingSeq });
  }

  send(message: PrimaryToWorker): void {
    if (!this.worker.isConnected()) return;
    try {
      this.worker.send(message);
    } catch {
      // The channel closed between the check and the send; the exit handler deals with it.
    }
  }

  /** Any message, with a socket to hand over when given (sticky routing); the callback hears whether it went. */
  sendRaw(message: object, socket?: Socket, callback: (error: Error | null) => void = () => {}): void {
    if (!this.worker.isConnected()) return callback(new Error('the worker is disconnected'));
    try {
      this.worker.send(message, socket, callback);
    } catch (error) {
      callback(error as Error);
    }
  }

  /**
   * The stop protocol: a shutdown message for the worker module, or
   * disconnect() for a plain app so it closes its servers (and the primary
   * stops routing to it at once); SIGKILL when `killAfterMs` is spent.
   * A worker with the module is disconnected only after its last report
   * ('cleaned'): its servers are closed by the drain itself, so cluster would
   * find nothing left to wait for and close the IPC channel at once, losing
   * the reports.
   */
  stop(reason: ShutdownReason, killAfterMs: number): Promise<WorkerExit> {
    if (this.currentState === 'exited' || this.currentState === 'stopping') return this.exited;
    this.stopCause = { kind: 'drain', reason };
    this.transition('stopping');
    this.send({ zdt: 'shutdown', reason });
    if (!this.protocol || this.cleanup) this.disconnect();
    this.killTimer = setTimeout(() => {
      this.killedAtDeadline = true;
      this.signal('SIGKILL');
    }, killAfterMs);
    // The worker's own process handle keeps the primary alive until it exits.
    this.killTimer.unref();
    return this.exited;
  }

  private disconnect(): void {
    if (!this.worker.isConnected()) return;
    try {
      this.worker.disconnect();
    } catch {
      // Already disconnecting.
    }
  }

  /** SIGKILL now, for a worker that cannot drain (hung, failed boot, forced stop). */
  kill(reason: Extract<StopCause, { kind: 'kill' }>['reason']): Promise<WorkerExit> {
    if (this.currentState === 'exited') return this.exited;
    this.stopCause ??= { kind: 'kill', reason };
    if (this.currentState !== 'stopping') this.transition('stopping');
    this.signal('SIGKILL');
    return this.exited;
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.currentState === 'exited') return;
    try {
      this.worker.process.kill(signal);
    } catch {
      // Already gone.
    }
  }
}
