/**
 * The worker's one state and the only place it changes. The life is one-way:
 *
 *   running ──────────────────┐
 *      │                      ▼
 *      └──▶ replacing ──▶ draining ──▶ cleanup ──▶ exiting
 *
 * - running: serving, readiness 200.
 * - replacing: an uncaught exception under the supervisor; still serving as usual (keep-alive included) while the
 *   supervisor starts a replacement, but readiness answers 503.
 * - draining: listening stopped (or about to, after `shutdownDelayMs`), every response carries `Connection: close`.
 * - cleanup: the HTTP drain is over; `onShutdown` hooks run.
 * - exiting: cleanup is over; the process exits (or, with `exit: false`, stays here for good).
 */

/** Where the worker is in its one-way life: set right before the moment it announces. */
export type DrainState = 'running' | 'replacing' | 'draining' | 'cleanup' | 'exiting';

const ALLOWED_MOVES: Readonly<Record<DrainState, readonly DrainState[]>> = {
  running: ['replacing', 'draining'],
  replacing: ['draining'],
  draining: ['cleanup'],
  cleanup: ['exiting'],
  exiting: [],
};

/** From the drain start on: listening stops, responses close their connection, `isDraining()` is true. */
export function isDrainingState(state: DrainState): boolean {
  return state === 'draining' || state === 'cleanup' || state === 'exiting';
}

export class WorkerDrainState {
  private value: DrainState = 'running';

  get current(): DrainState {
    return this.value;
  }

  /** Checks the move against the one-way life above; an illegal one is a bug in the worker side, not a user error. */
  transition(to: DrainState): void {
    const from = this.value;
    if (!ALLOWED_MOVES[from].includes(to)) {
      throw new Error(`zero-downtime worker (pid ${process.pid}): illegal drain state move ${from} -> ${to}`);
    }
    this.value = to;
  }

  get draining(): boolean {
    return isDrainingState(this.value);
  }

  /** The HTTP drain is over: close callbacks held for node:cluster can be called. */
  get httpDrained(): boolean {
    return this.value === 'cleanup' || this.value === 'exiting';
  }

  /** Readiness answers 200 only here. */
  get serving(): boolean {
    return this.value === 'running';
  }
}
