/**
 * Asking the workers for their own prom-client metrics at a scrape: one request id per scrape, answered by
 * `collected` messages (recorded by the aggregator as they arrive). The scrape waits for every worker asked, at most
 * `timeoutMs`; a worker that leaves meanwhile is not waited for. One that does not answer in time is counted at its
 * last known values (app-metrics.ts), not left out.
 */
import type { WorkerHandle } from '../workers/handle.js';

export class AppMetricsCollector {
  private sequence = 0;
  private readonly waiting = new Map<number, { unanswered: Set<WorkerHandle>; finish: () => void }>();

  /** A worker's `collected` message. */
  answered(requestId: number, handle: WorkerHandle): void {
    const scrape = this.waiting.get(requestId);
    if (scrape?.unanswered.delete(handle) && scrape.unanswered.size === 0) scrape.finish();
  }

  /** The worker left (drained or exited): no scrape waits for its answer any longer. */
  gone(handle: WorkerHandle): void {
    for (const scrape of [...this.waiting.values()]) if (scrape.unanswered.delete(handle) && scrape.unanswered.size === 0) scrape.finish();
  }

  /**
   * Asks the ready and stopping workers that `counted` says are still counted on their own (a stopping worker serves
   * until its drain ends); a starting one is not asked (its boot may hold its event loop), its pushes are enough.
   */
  collect(handles: Iterable<WorkerHandle>, counted: (handle: WorkerHandle) => boolean, timeoutMs: number): Promise<void> {
    const asked = [...handles].filter((handle) => (handle.state === 'ready' || handle.state === 'stopping') && handle.speaksProtocol && counted(handle));
    if (asked.length === 0) return Promise.resolve();
    const requestId = ++this.sequence;
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiting.delete(requestId);
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      timer.unref();
      this.waiting.set(requestId, { unanswered: new Set(asked), finish });
      for (const handle of asked) handle.send({ zdt: 'collect', requestId });
    });
  }
}
