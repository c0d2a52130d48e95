/**
 * The counts every load client keeps the same way: answered and failed requests, failures by reason (each with the
 * time it happened, so a caller can tell which ones an event it caused explains), the pids that answered, and the
 * waiters `waitForRequests()` parks until enough requests have completed.
 */
import { performance } from 'node:perf_hooks';
import { sortedFailures, waitForCompleted, type FailureRecord } from './routes.js';

export interface LoadProgress {
  sent: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  pids: Set<number>;
}

export class Tally {
  readonly startedAt = performance.now();
  ok = 0;
  failed = 0;
  readonly failures = new Map<string, number>();
  readonly failureLog: FailureRecord[] = [];
  readonly pids = new Set<number>();
  stopping = false;
  ended = false;
  readonly waiters = new Set<() => void>();

  constructor(
    private readonly durationMs: number,
    private readonly maxRequestsPerClient: number,
  ) {}

  /** True while a client may send another request (its `count`th). */
  running(count = 0): boolean {
    return count < this.maxRequestsPerClient && !this.stopping && performance.now() - this.startedAt < this.durationMs;
  }

  /** `began`: when the request was sent (performance.now()); now when unknown. */
  record(reason: string | undefined, pid?: number, began?: number): void {
    if (reason === undefined) {
      this.ok += 1;
      if (pid !== undefined) this.pids.add(pid);
    } else {
      this.failed += 1;
      this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
      const at = performance.now();
      this.failureLog.push({ began: began ?? at, at, reason });
    }
    this.wake();
  }

  wake(): void {
    for (const wake of this.waiters) wake();
  }

  progress(): LoadProgress {
    return { sent: this.ok + this.failed, ok: this.ok, failed: this.failed, failures: Object.fromEntries(this.failures), pids: new Set(this.pids) };
  }

  /** The common part of every client's summary. */
  summary() {
    return {
      durationMs: performance.now() - this.startedAt,
      sent: this.ok + this.failed,
      ok: this.ok,
      failed: this.failed,
      failures: sortedFailures(this.failures),
      failureLog: [...this.failureLog],
      pids: this.pids,
    };
  }

  /** Resolves once `count` more requests have completed; at once when the load is stopped. */
  waitForRequests(count: number): Promise<void> {
    return waitForCompleted(this.waiters, count, {
      completed: () => this.ok + this.failed,
      stopping: () => this.stopping,
      ended: () => this.ended,
      bound: `${this.durationMs} ms or ${this.maxRequestsPerClient} requests per client`,
    });
  }

  /** The handle every client returns: progress, waiting, stopping (`progress` adds a client's own counts). */
  handle<Summary, Progress = LoadProgress>(done: Promise<Summary>, progress: () => Progress = () => this.progress() as Progress): RunningLoad<Summary, Progress> {
    return {
      progress,
      waitForRequests: (count) => this.waitForRequests(count),
      stop: () => {
        this.stopping = true;
        this.wake();
        return done;
      },
      done,
    };
  }

  /** Runs the clients; resolves once all have returned. */
  run<Summary>(clients: Array<Promise<unknown>>, summary: () => Summary, onEnd: () => void = () => {}): Promise<Summary> {
    return Promise.all(clients).then(() => {
      this.ended = true;
      onEnd();
      this.wake();
      return summary();
    });
  }
}

/** What every load client returns. */
export interface RunningLoad<Summary, Progress = LoadProgress> {
  progress(): Progress;
  waitForRequests(count: number): Promise<void>;
  stop(): Promise<Summary>;
  done: Promise<Summary>;
}
