/**
 * Every message a worker may send (protocol.ts), handled in one place: a table by verb, as node:cluster dispatches
 * its internal messages. The supervisor owns the state each handler touches and passes it in.
 */
import { describeError } from '../error-summary.js';
import type { ResolvedOptions } from '../options.js';
import type { WorkerToPrimary } from '../protocol.js';
import { probePath } from '../settings/readiness.js';
import type { AppMetricsCollector } from './metrics/collection.js';
import type { AppMetricsAggregator } from './metrics/app-metrics.js';
import type { SupervisorMetrics } from './metrics/supervisor-metrics.js';
import type { WorkerInfo } from './supervisor-types.js';
import type { DrainOutcome, WorkerHandle } from './workers/handle.js';

export type MessageHandlers = { [Verb in WorkerToPrimary['zdt']]: (handle: WorkerHandle, message: Extract<WorkerToPrimary, { zdt: Verb }>) => void };

export interface MessageContext {
  options: ResolvedOptions;
  log: () => ResolvedOptions['logger'];
  metrics: SupervisorMetrics;
  appMetrics: AppMetricsAggregator;
  /** Scrapes waiting for the workers' own metrics. */
  collector: AppMetricsCollector;
  info: (handle: WorkerHandle) => WorkerInfo;
  /** A worker's counts for a canary window. */
  canaryCounted: (window: number, handle: WorkerHandle, counts: { requests: number; errors: number }) => void;
  /** A ready worker asked to be replaced (start-first). */
  askedToBeReplaced: (handle: WorkerHandle, reason: string) => void;
  /** At a final stop, the worker stopped listening (primary/sockets/final-close.ts). */
  listeningClosed: (handle: WorkerHandle) => void;
}

export function workerMessageHandlers({ options, log, metrics, appMetrics, collector, canaryCounted, info, askedToBeReplaced, listeningClosed }: MessageContext): MessageHandlers {
  return {
    counted: (handle, message) => canaryCounted(message.window, handle, message),
    hello: (handle) => handle.greeted(),
    accepting: (handle) => handle.confirmAccepting(),
    'listening-closed': (handle) => listeningClosed(handle),
    listening: (handle, message) => handle.listenedOnInherited({ address: message.address, port: message.port, listener: message.listener }),
    ready: (handle, message) => {
      // Under http:PATH only the probe makes a worker ready: an app's own ready() or PM2-style 'ready' does not.
      if (options.readiness === 'message' || (message.probe === true && probePath(options.readiness) !== undefined)) handle.markReady();
    },
    probe: (handle, message) => {
      handle.probed(message.result);
      log().debug({ ...info(handle), probe: message.result }, `worker ${handle.id} (pid ${handle.pid}) not ready yet: ${message.result}`);
    },
    pong: (handle, message) => handle.answered(message.rss, message.loopDelayMs),
    draining: (handle, message) => {
      log().debug({ ...info(handle), reason: message.reason }, `worker ${handle.id} draining`);
    },
    drained: (handle, message) => {
      appMetrics.record(handle, message.appMetrics);
      // Its counters move into the carried set now: from here on it is no longer asked at a scrape.
      appMetrics.retire(handle);
      const outcome: DrainOutcome = {
        clean: message.clean,
        cut: message.cut,
        cutLongLived: message.cutLongLived ?? 0,
        inFlight: message.inFlight ?? 0,
        served: message.served ?? 0,
        idleClosed: message.idleClosed ?? 0,
        unprocessed: message.unprocessed ?? 0,
        durationMs: message.durationMs,
      };
      metrics.drained({ reason: handle.stopReason ?? 'unknown', ...outcome });
      handle.reportDrain(outcome);
      if (message.cut > 0) {
        log().warn({ ...info(handle), cut: message.cut }, `worker ${handle.id} (pid ${handle.pid}) cut ${message.cut} connection(s) at its drain deadline (${options.drainTimeoutMs}ms)`);
      }
    },
    collected: (handle, message) => {
      appMetrics.record(handle, message.metrics);
      collector.answered(message.requestId, handle);
    },
    metrics: (handle, message) => appMetrics.record(handle, message.metrics),
    cleaned: (handle, message) => {
      metrics.cleanupDuration.observe(message.durationMs / 1000);
      if (message.failures > 0) metrics.cleanupFailures.inc({}, message.failures);
      handle.reportCleanup({ durationMs: message.durationMs, failures: message.failures });
      if (message.failures > 0) {
        log().warn({ ...info(handle), failures: message.failures }, `worker ${handle.id} (pid ${handle.pid}): ${message.failures} cleanup hook(s) failed or timed out`);
      }
    },
    fatal: (handle, message) => {
      handle.reportError(message.error);
      const cause = describeError(message.error);
      log().error({ ...info(handle), origin: message.origin, error: message.error }, `worker ${handle.id} (pid ${handle.pid}) ${message.origin}: ${cause}`);
      handle.failBoot(`${message.origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception'}: ${cause}`, message.error);
    },
    replace: (handle, message) => {
      if (message.error) handle.reportError(message.error);
      if (handle.state === 'starting') {
        handle.failBoot(message.error ? `asked to be replaced: ${describeError(message.error)}` : `asked to be replaced: ${message.reason}`, message.error);
        return;
      }
        askedToBeReplaced(handle, message.reason);
    },
  };
}
