/**
 * The supervisor's half of a final stop's last close (the worker half: worker/held-release.ts). Each worker reports
 * when it stopped listening on the sockets the workers share, holding the connections that arrived meanwhile; once
 * every worker being stopped has reported or exited, each is told to answer what it holds. Answered earlier, those
 * clients would reconnect into the queue of a worker that is closing the socket's last copy, and be reset.
 */
import type { WorkerHandle } from '../workers/handle.js';

export class FinalCloseBarrier {
  private readonly waiting: Set<WorkerHandle>;
  private readonly closed = new Set<WorkerHandle>();
  private done = false;

  constructor(
    handles: readonly WorkerHandle[],
    private readonly release: (handle: WorkerHandle) => void,
  ) {
    this.waiting = new Set(handles);
  }

  /** The worker's `listening-closed`. */
  listeningClosed(handle: WorkerHandle): void {
    if (!this.waiting.delete(handle)) return;
    this.closed.add(handle);
    this.check();
  }

  /** The worker exited: nothing to wait for. */
  gone(handle: WorkerHandle): void {
    this.waiting.delete(handle);
    this.closed.delete(handle);
    this.check();
  }

  private check(): void {
    if (this.done || this.waiting.size > 0) return;
    this.done = true;
    for (const handle of this.closed) if (handle.isAlive) this.release(handle);
  }
}
