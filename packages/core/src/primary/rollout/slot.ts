/**
 * A worker slot: one of the N places a worker serves from, with its restart history. The supervisor keeps the
 * slots; the start-first step (rollout.ts) puts a ready worker into one with swap().
 */
import type { LastExit } from '../supervisor-types.js';
import type { WorkerHandle } from '../workers/handle.js';

export class Slot {
  readonly id: number;
  /** The worker serving from this slot; undefined while it is restarting. */
  current: WorkerHandle | undefined;
  /** Times a worker of this slot was re-forked after a crash, hang, memory limit or replace request. */
  restarts = 0;
  /** Quick crashes in a row (exits before ready or before minUptimeMs); reset when a worker takes the slot. */
  quickCrashes = 0;
  lastExit: LastExit | undefined;
  nextRestartAt: number | undefined;
  /** Removed by a scale-down: nothing may fork into it any more. */
  retired = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** The slot's operations (restart, replacement, rollout step) run one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(id: number) {
    this.id = id;
  }

  /** Puts a ready worker in the slot; returns the one it replaces. A taken slot has nothing left to restart. */
  swap(handle: WorkerHandle): WorkerHandle | undefined {
    const old = this.current;
    this.cancelRestart();
    this.quickCrashes = 0;
    this.current = handle;
    return old;
  }

  /** Runs `operation` after the slot's earlier operations; the returned promise settles with it. */
  exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Waits for the operations queued so far. */
  idle(): Promise<void> {
    return this.queue;
  }

  scheduleRestart(delayMs: number, restart: () => void): void {
    this.cancelRestart();
    this.nextRestartAt = Date.now() + delayMs;
    // Not unref'd: when every worker is down, this timer is what keeps the supervisor alive to bring them back.
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.nextRestartAt = undefined;
      restart();
    }, delayMs);
  }

  get restartPending(): boolean {
    return this.restartTimer !== undefined;
  }

  cancelRestart(): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.nextRestartAt = undefined;
  }
}
