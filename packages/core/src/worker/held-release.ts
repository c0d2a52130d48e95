/**
 * When a final stop may answer the connections its quiet close held (quiet-close.ts): only once every process that
 * shares the listening socket has closed its copy.
 *
 * Several workers share one listening socket. Each closes its copy when its own queue is quiet and then answers the
 * connections it held with `Connection: close`; those clients reconnect at once. Were they answered while another
 * worker still listens, they would reconnect into its queue just as it makes the last close, and the kernel resets
 * what that close finds queued. So a supervised worker tells the supervisor when every server it closes this way has
 * closed its listening handle (`listening-closed`), and answers its held connections when the supervisor says every
 * worker has (`release-held`), after RELEASE_BOUND_MS, or halfway to its drain deadline, whichever comes first (held
 * past the deadline they would be cut unanswered). A process that no zdt supervisor runs shares its socket with
 * nobody it can ask, and answers at once.
 */

/** The longest held connections wait for the supervisor's word once this process stopped listening. */
export const RELEASE_BOUND_MS = 1_000;

export class HeldRelease {
  private open = 0;
  private sealed = false;
  private reported = false;
  private released = false;
  private readonly waiters: Array<() => void> = [];

  /** `report`: tells the supervisor this process stopped listening; undefined when no zdt supervisor runs it. */
  constructor(private readonly report: (() => void) | undefined) {}

  /**
   * A server that will close its listening handle when quiet and must be drained by `deadlineAt`. `closed()` is
   * called right after it closed, and resolves when its held connections may be answered.
   */
  track(deadlineAt: number): { closed(): Promise<void> } {
    this.open += 1;
    let done = false;
    return {
      closed: () => {
        if (!done) {
          done = true;
          this.open -= 1;
          this.reportIfClosed();
        }
        return this.whenReleased(deadlineAt);
      },
    };
  }

  /** Every server of this stop has been counted (those that close at once were never tracked). */
  seal(): void {
    this.sealed = true;
    this.reportIfClosed();
  }

  /** The supervisor's word: every worker stopped listening. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private whenReleased(deadlineAt: number): Promise<void> {
    if (this.released || this.report === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.min(RELEASE_BOUND_MS, Math.max(0, (deadlineAt - Date.now()) / 2)));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private reportIfClosed(): void {
    if (this.reported || !this.sealed || this.open > 0) return;
    this.reported = true;
    this.report?.();
  }
}
