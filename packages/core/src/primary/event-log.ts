/**
 * The supervisor's log lines for its events: the supervisor only emits, and this subscriber, installed once by its
 * constructor, writes each event to the logger (before any listener added later sees it). The lines and their fields
 * are what `zdt start` prints and what `--log-format json` carries (the bench reads the rollout lines).
 */
import type { EventEmitter } from 'node:events';
import type { ResolvedOptions } from '../options.js';
import { describeServing } from './rollout/rollout.js';
import type { SupervisorEvents } from './supervisor-types.js';
import { describeAddress } from './workers/handle.js';

/** Subscribes to the events alone (the Supervisor is one such emitter), so the log lines need nothing else of it. */
export function logEvents(supervisor: EventEmitter<SupervisorEvents>, options: ResolvedOptions): void {
  const log = options.logger;
  supervisor.on('fork', (info) => log.info(info, `worker ${info.workerId} forked (pid ${info.pid}, generation ${info.generation})`));
  supervisor.on('ready', (info) => log.info(info, `worker ${info.workerId} (pid ${info.pid}) ready, generation ${info.generation}`));
  supervisor.on('listening', ({ workerId, pid, address }) => {
    const socket = address.listener === undefined ? '' : ` (the supervisor's socket ${address.listener})`;
    log.info({ workerId, pid, address }, `worker ${workerId} (pid ${pid}) listening on ${describeAddress(address)}${socket}`);
  });
  supervisor.on('hung', (event) =>
    log.error(event, `worker ${event.workerId} (pid ${event.pid}) hung: no heartbeat for ${event.silentForMs}ms; replacing it, then killing it`),
  );
  supervisor.on('memory', (event) => {
    const overMiB = Math.round(event.rssBytes / 1048576);
    log.warn(event, `worker ${event.workerId} (pid ${event.pid}) over its memory limit (${overMiB} MiB > ${event.limitBytes / 1048576} MiB); replacing it, then draining it`);
  });
  supervisor.on('replace', (event) => log.warn(event, `worker ${event.workerId} asked to be replaced: ${event.reason}`));
  supervisor.on('rollout:start', ({ generation, workers }) =>
    log.info({ generation, workers, batchSize: options.rolloutBatchSize }, `rollout of generation ${generation} started`),
  );
  supervisor.on('rollout:progress', ({ generation, workerId, oldPid, newPid }) =>
    log.info({ generation, workerId, oldPid, newPid }, `worker ${workerId}: ${oldPid ?? '(none)'} -> ${newPid}`),
  );
  supervisor.on('rollout:rollback', ({ generation, workerId, oldPid, newPid, toGeneration }) =>
    log.warn({ generation, workerId, oldPid, newPid, toGeneration }, `worker ${workerId}: rolled back to generation ${toGeneration}: ${oldPid ?? '(none)'} -> ${newPid}`),
  );
  supervisor.on('canary:start', ({ generation, baselineGeneration, windowMs }) =>
    log.info({ generation, baselineGeneration, windowMs }, `canary: generation ${generation}'s first batch serves; holding the rollout ${windowMs}ms to compare it with generation ${baselineGeneration}`),
  );
  supervisor.on('canary:verdict', (report) => {
    const { generation, outcome, decision, canary, baseline, pValue, windowMs, message } = report;
    const fields = { generation, outcome, decision, canary, baseline, pValue, windowMs };
    if (decision === 'refused') log.error(fields, message);
    else log.info(fields, message);
  });
  supervisor.on('rollout:done', ({ generation, replaced, cuts, serving }) => {
    const cutNote = cuts.length > 0 ? `; ${cuts.length} old worker(s) were still serving at their drain deadline and were cut` : '';
    log.info({ generation, replaced: replaced.length }, `rollout of generation ${generation} done: ${replaced.length} worker(s) replaced, ${describeServing(serving)}${cutNote}`);
  });
  supervisor.on('rollout:in-place', ({ generation, entryPath, message }) => log.warn({ generation, entryPath }, message));
  supervisor.on('rollout:failed', ({ generation, error }) =>
    log.error({ generation, workerId: error.workerId, pid: error.pid, reason: error.reason }, error.message),
  );
}
