import cluster from 'node:cluster';
import { isProtocolMessage, type PrimaryToWorker } from '../protocol.js';
import type { WorkerLogger } from './options.js';

/** What the triggers drive: every way a worker is told to stop ends in the same `shutdown()`. */
export interface TriggerTarget {
  /** Starts the drain, once; later calls join it. */
  shutdown(reason: string): void;
  uncaughtException(error: unknown, origin: string): void;
  answerPing(seq: number): void;
  answerCollect(requestId: number): void;
  /** The supervisor counts this worker ready: start accepting connections. */
  accept(): void;
  /** Every worker stopped listening at a final stop: answer the held connections (held-release.ts). */
  releaseHeld(): void;
  /** A canary window opens (true) or closes (false) and is answered with its counts. */
  countWindow(window: number, open: boolean): void;
  /** The drain has started (a server closed now joins it). */
  draining(): boolean;
  /** The HTTP drain is over (node:cluster's close callbacks may be called). */
  httpDrained(): boolean;
  logger(): WorkerLogger;
}

/**
 * Where a worker learns it must stop: SIGTERM/SIGINT, the supervisor's or PM2's IPC messages, an uncaught exception,
 * and node:cluster's `worker.disconnect()` (which reaches the worker as `close(cb)` on each of its servers).
 */
export class Triggers {
  private signalsReceived = 0;
  private signalsInstalled = false;
  private uncaughtInstalled = false;
  private messagesInstalled = false;
  private readonly heldCloseCallbacks: Array<(error?: Error) => void> = [];

  constructor(private readonly target: TriggerTarget) {}

  private readonly onMessage = (message: unknown): void => {
    // PM2 sends the bare string when the app sets shutdown_with_message.
    if (message === 'shutdown') {
      this.target.shutdown('shutdown message');
      return;
    }
    if (!isProtocolMessage(message)) return;
    const handler = this.messageHandlers[message.zdt as PrimaryToWorker['zdt']];
    if (handler) handler(message as never);
  };

  private readonly messageHandlers: { [Verb in PrimaryToWorker['zdt']]: (message: Extract<PrimaryToWorker, { zdt: Verb }>) => void } = {
    // The time limits are not in the message: the worker read them from its environment when it started.
    shutdown: (message) => this.target.shutdown(String(message.reason ?? 'shutdown')),
    ping: (message) => this.target.answerPing(message.seq),
    collect: (message) => this.target.answerCollect(message.requestId),
    accept: () => this.target.accept(),
    'release-held': () => this.target.releaseHeld(),
    'count-open': (message) => this.target.countWindow(message.window, true),
    'count-close': (message) => this.target.countWindow(message.window, false),
  };

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.signalsReceived += 1;
    if (this.signalsReceived > 1) {
      this.target.logger().warn({ signal }, `second ${signal} while draining: exiting now`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    this.target.shutdown(signal);
  };

  private readonly onUncaughtException = (error: unknown, origin: string): void => {
    this.target.uncaughtException(error, origin);
  };

  /**
   * A 'message' listener keeps the IPC channel (and so the process) alive: listen only where someone talks to us
   * (our supervisor, PM2, a node:cluster primary, whose workers keep the channel alive anyway), not in any child
   * that happens to have a channel.
   */
  listenToMessages(supervised: boolean): void {
    const managedProcess = supervised || cluster.isWorker || process.env.pm_id !== undefined;
    if (this.messagesInstalled || typeof process.send !== 'function' || !managedProcess) return;
    process.on('message', this.onMessage);
    this.messagesInstalled = true;
  }

  setSignals(on: boolean): void {
    if (on === this.signalsInstalled) return;
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      if (on) process.on(signal, this.onSignal);
      else process.removeListener(signal, this.onSignal);
    }
    this.signalsInstalled = on;
  }

  setUncaughtExceptions(on: boolean): void {
    if (on === this.uncaughtInstalled) return;
    if (on) process.on('uncaughtException', this.onUncaughtException);
    else process.removeListener('uncaughtException', this.onUncaughtException);
    this.uncaughtInstalled = on;
  }

  /**
   * An app written for PM2 stops its own way: `process.on('SIGINT' | 'SIGTERM', cleanup)` or a `'shutdown'` message
   * handler. When the drain was not started by a signal or that message, those listeners have not run: call them
   * now, once (the SIGINT listeners, PM2's signal, or else the SIGTERM ones; and every 'message' listener with
   * 'shutdown'). Returns how many were called.
   */
  callAppShutdownListeners(reason: string): number {
    if (reason === 'SIGINT' || reason === 'SIGTERM' || reason === 'shutdown message') return 0;
    const ours = new Set<unknown>([this.onSignal, this.onMessage]);
    const theirs = (event: 'SIGINT' | 'SIGTERM' | 'message') =>
      (process.listeners(event as 'message') as Array<(value: unknown) => void>).filter((listener) => !ours.has(listener));
    const signal = theirs('SIGINT').length > 0 ? 'SIGINT' : 'SIGTERM';
    const calls = [...theirs(signal).map((listener) => () => listener(signal)), ...theirs('message').map((listener) => () => listener('shutdown'))];
    for (const call of calls) {
      try {
        call();
      } catch (error) {
        this.target.logger().error({ err: error }, `the app's own ${signal} / shutdown listener threw`);
      }
    }
    return calls.length;
  }

  uninstall(): void {
    if (this.messagesInstalled) process.removeListener('message', this.onMessage);
    this.messagesInstalled = false;
    this.setSignals(false);
    this.setUncaughtExceptions(false);
  }

  /**
   * `close(cb)` was called on a managed server. node:cluster's disconnect (or any close once the drain started)
   * drains the process: true, and `cb` is held until the HTTP drain is done, because the last callback makes
   * node:cluster close the IPC channel. False: the app closing one server, not a trigger.
   */
  serverCloseCalled(callback: ((error?: Error) => void) | undefined): boolean {
    const disconnecting = cluster.isWorker && cluster.worker?.exitedAfterDisconnect === true;
    if (!disconnecting && !this.target.draining()) return false;
    this.target.shutdown('disconnect');
    if (callback) {
      if (this.target.httpDrained()) callback();
      else this.heldCloseCallbacks.push(callback);
    }
    return true;
  }

  releaseCloseCallbacks(): void {
    for (const callback of this.heldCloseCallbacks.splice(0)) callback();
  }
}
