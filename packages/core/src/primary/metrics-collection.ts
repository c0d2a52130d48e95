/**
 * Asking the ready workers for their own prom-client metrics at a scrape: one request id per scrape, answered by
 * `collected` messages; a worker that does not answer in time is left out of that scrape.
 */
import type { AppMetric } from '../protocol.js';
import type { WorkerHandle } from './worker-handle.js';

export class AppMetricsCollector {
  private sequence = 0;
  private readonly waiting = new Map<number, { answered: (handle: WorkerHandle, metrics: AppMetric[] | null) => void }>();

  /** A worker's `collected` message. */
  answered(requestId: number, handle: WorkerHandle, metrics: AppMetric[] | null): void {
    this.waiting.get(requestId)?.answered(handle, metrics);
  }

  collect(handles: Iterable<WorkerHandle>, timeoutMs: number): Promise<AppMetric[][]> {
    const asked = [...handles].filter((handle) => handle.state === 'ready' && handle.speaksProtocol);
    if (asked.length === 0) return Promise.resolve([]);
    const requestId = ++this.sequence;
    return new Promise((resolve) => {
      const answers = new Map<WorkerHandle, AppMetric[] | null>();
      const finish = () => {
        clearTimeout(timer);
        this.waiting.delete(requestId);
        resolve([...answers.values()].filter((metrics): metrics is AppMetric[] => metrics !== null));
      };
      const timer = setTimeout(finish, timeoutMs);
      timer.unref();
      this.waiting.set(requestId, {
        answered: (handle, metrics) => {
          if (!asked.includes(handle)) return;
          answers.set(handle, metrics);
          if (answers.size === asked.length) finish();
        },
      });
      for (const handle of asked) handle.send({ zdt: 'collect', requestId });
    });
  }
}
