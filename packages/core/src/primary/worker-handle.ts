/**
 * The primary's view of one worker process. Its state changes only through
 * transition(), which checks the move and then emits, so every listener sees
 * the same order of states. The stop protocol lives here because it is the
 * same whoever asks for it (rollout, memory limit, stop()).
 */
import { EventEmitter } from 'node:events';
import type { Worker as ClusterWorker } from 'node:cluster';
import type { Readiness } from '../options.js';
import { isProtocolMessage, type PrimaryToWorker, type ShutdownReason, type WorkerToPrimary } from '../protocol.js';

export type WorkerState = 'starting' | 'ready' | 'stopping' | 'exited';

const ALLOWED_MOVES: Record<WorkerState, readonly WorkerState[]> = {
  starting: ['ready', 'stopping', 'exited'],
  ready: ['stopping', 'exited'],
  stopping: ['exited'],
  exited: [],
};

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The supervisor asked it to stop (or killed it); anything else is a crash. */
  expected: boolean;
  uptimeMs: number;
  /** Why the supervisor stopped it, when it did. */
  stopReason: string | undefined;
}

export interface ListeningAddress {
  address: string;
  port: number;
}

export interface WorkerHandleEvents {
  state: [{ from: WorkerState; to: WorkerState }];
  listening: [ListeningAddress];
  message: [WorkerToPrimary];
  exit: [WorkerExit];
}

export class WorkerHandle extends EventEmitter<WorkerHandleEvents> {
  readonly id: number;
  readonly generation: number;
  readonly pid: number;
  readonly forkedAt = Date.now();
  readonly exited: Promise<WorkerExit>;
  readyAt: number | undefined;
  /** Set by a `hello` message: the worker module is loaded and answers pings. */
  speaksProtocol = false;
  lastPongAt = 0;
  lastPingSeq = 0;
  /** Last RSS known from a pong, in bytes. */
  reportedRssBytes: number | undefined;
  private currentState: WorkerState = 'starting';
  private stopReason: string | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly worker: ClusterWorker;

  constructor(worker: ClusterWorker, id: number, generation: number, readiness: Readiness) {
    super();
    this.worker = worker;
    this.id = id;
    this.generation = generation;
    this.pid = worker.process.pid ?? -1;
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(this.killTimer);
        const exit: WorkerExit = {
          code,
          signal,
          expected: this.stopReason !== undefined,
          uptimeMs: Date.now() - this.forkedAt,
          stopReason: this.stopReason,
        };
        this.transition('exited');
        this.emit('exit', exit);
        resolve(exit);
      });
    });
    // A failed fork (e.g. EAGAIN) surfaces as 'error' and then 'exit'; without a listener it would throw in the primary.
    worker.on('error', () => {});
    worker.on('listening', (address: { address?: string | null; port?: number }) => {
      if (readiness === 'listening' && this.currentState === 'starting') this.transition('ready');
      this.emit('listening', { address: address.address ?? '', port: address.port ?? 0 });
    });
    worker.on('message', (message: unknown) => {
      if (!isProtocolMessage(message)) return;
      const verb = message as WorkerToPrimary;
      if (verb.zdt === 'hello') {
        this.speaksProtocol = true;
        this.lastPongAt = Date.now();
      } else if (verb.zdt === 'pong') {
        this.lastPongAt = Date.now();
        if (typeof verb.rss === 'number') this.reportedRssBytes = verb.rss;
      } else if (verb.zdt === 'ready' && readiness === 'message' && this.currentState === 'starting') {
        this.transition('ready');
      }
      this.emit('message', verb);
    });
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

  transition(to: WorkerState): void {
    const from = this.currentState;
    if (!ALLOWED_MOVES[from].includes(to)) {
      throw new Error(`worker ${this.id} (pid ${this.pid}): illegal state move ${from} -> ${to}`);
    }
    this.currentState = to;
    if (to === 'ready') this.readyAt = Date.now();
    this.emit('state', { from, to });
  }

  send(message: PrimaryToWorker): void {
    if (!this.worker.isConnected()) return;
    try {
      this.worker.send(message);
    } catch {
      // The channel closed between the check and the send; the exit handler deals with it.
    }
  }

  /**
   * The stop protocol: a shutdown message for the worker module, then
   * disconnect() so a plain app closes its servers too (and the primary stops
   * routing to it at once), then SIGKILL when the drain budget is spent.
   */
  stop(reason: ShutdownReason, drainTimeoutMs: number): Promise<WorkerExit> {
    if (this.currentState === 'exited' || this.currentState === 'stopping') return this.exited;
    this.stopReason = reason;
    this.transition('stopping');
    this.send({ zdt: 'shutdown', reason });
    if (this.worker.isConnected()) {
      try {
        this.worker.disconnect();
      } catch {
        // Already disconnecting.
      }
    }
    this.killTimer = setTimeout(() => this.signal('SIGKILL'), drainTimeoutMs);
    // The worker's own process handle keeps the primary alive until it exits.
    this.killTimer.unref();
    return this.exited;
  }

  /** SIGKILL now, for a worker that cannot drain (hung, not ready in time, forced stop). */
  kill(reason: string): Promise<WorkerExit> {
    if (this.currentState === 'exited') return this.exited;
    this.stopReason ??= reason;
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
