/**
 * One meaning for the drain time. Under the supervisor the HTTP drain limit is the supervisor's drain timeout,
 * unless the app sets its own `drainTimeoutMs`, which can only shorten it; alone it is the app's `drainTimeoutMs`.
 * The supervisor SIGKILLs a stopping worker only after its drain and cleanup windows (plus a margin), so cleanup
 * hooks get the cleanup window after the drain window, whatever the app's own limit.
 */
import { WORKER_ENV } from '../protocol.js';
import { DEFAULTS } from '../settings/defaults.js';
import { readEnvMilliseconds } from '../settings/parse.js';
import { WORKER_DEFAULTS } from './options.js';

/** The supervisor's time limits, read once from the environment it forked this worker with. */
export interface SupervisorWindows {
  /** How long requests in flight may run to completion once a drain starts. */
  drainTimeoutMs: number;
  /** How long cleanup hooks may take in all after the HTTP drain. */
  cleanupTimeoutMs: number;
}

/** Undefined when not forked by a zero-downtime supervisor (or by one that gave no drain timeout). */
export function readSupervisorWindows(environment: NodeJS.ProcessEnv): SupervisorWindows | undefined {
  if (environment[WORKER_ENV.supervised] !== '1') return undefined;
  const drainTimeoutMs = readEnvMilliseconds(environment[WORKER_ENV.drainTimeoutMs]);
  if (drainTimeoutMs === undefined) return undefined;
  const cleanupTimeoutMs = readEnvMilliseconds(environment[WORKER_ENV.cleanupTimeoutMs]) ?? DEFAULTS.cleanupTimeoutMs;
  return { drainTimeoutMs, cleanupTimeoutMs };
}

/** `ownDrainTimeoutMs`: what the app set itself (`configure()`, an adapter option), undefined when it did not. */
export function httpDrainLimitMs(supervisor: SupervisorWindows | undefined, ownDrainTimeoutMs: number | undefined): number {
  if (supervisor === undefined) return ownDrainTimeoutMs ?? WORKER_DEFAULTS.drainTimeoutMs;
  return Math.min(ownDrainTimeoutMs ?? supervisor.drainTimeoutMs, supervisor.drainTimeoutMs);
}

/** When every cleanup hook must be done. Alone there is no overall bound: each hook has its own. */
export function cleanupDeadlineAt(drainStartedAt: number, supervisor: SupervisorWindows | undefined): number {
  if (supervisor === undefined) return Number.POSITIVE_INFINITY;
  return drainStartedAt + supervisor.drainTimeoutMs + supervisor.cleanupTimeoutMs;
}
