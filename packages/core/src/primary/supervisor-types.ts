/** The supervisor's public shapes: its states, what its operations resolve with, its status and its events. */
import type { RollbackSummary, RolloutFailedError, ServingWorker } from '../errors.js';
import type { CanaryProgress, CanaryReport } from './canary/canary.js';
import type { MetricsSnapshot } from './metrics/supervisor-metrics.js';
import type { ListenerInfo } from './sockets/listeners.js';
import type { ListeningAddress, WorkerExit, WorkerState } from './workers/handle.js';

export interface ReplacedWorker {
  workerId: number;
  /** Undefined when the slot had no live worker (it was restarting after a crash). */
  oldPid: number | undefined;
  newPid: number;
}

/** A retired worker that was still serving at its drain deadline. */
export interface CutReport {
  workerId: number;
  pid: number;
  generation: number;
  /** Connections the worker module cut at its drain deadline; undefined when it did not say (a plain app). */
  cut: number | undefined;
  /** SIGKILLed at the kill deadline (whatever it still held was cut). */
  killed: boolean;
}

/** How the last worker of a slot ended, for `zdt status`. */
export interface LastExit {
  code: number | null;
  signal: string | null;
  uptimeMs: number;
}

export type SupervisorState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface RolloutResult {
  generation: number;
  replaced: ReplacedWorker[];
  durationMs: number;
  /** Old workers that were still serving at their drain deadline; empty when every drain was clean. */
  cuts: CutReport[];
  /** Which generation each slot serves now (a slot whose new worker crashed since may be restarting). */
  serving: ServingWorker[];
  /** The canary's verdict, when the rollout held for one. */
  canary?: CanaryReport;
}

export interface RolloutOutcome {
  generation: number;
  outcome: 'done' | 'failed';
  replaced: ReplacedWorker[];
  /** Why it failed (which worker and what happened). */
  reason?: string;
  /** For a failed rollout: what the rollback did and what serves now. */
  rollback?: RollbackSummary;
  cuts: CutReport[];
  startedAt: string;
  durationMs: number;
}

export interface StopResult {
  /** Workers that were still serving at their drain deadline. */
  cuts: CutReport[];
}

export interface ScaleResult {
  workers: number;
  /** Slots added (each with a ready worker) or removed (their workers drained). */
  added: number[];
  removed: number[];
  cuts: CutReport[];
}

export interface WorkerStatus {
  id: number;
  pid: number;
  generation: number;
  state: WorkerState;
  uptimeMs: number;
  /** Times this worker slot was re-forked after a crash, hang, memory limit or replace request. */
  restarts: number;
  rssBytes: number | undefined;
  /** User + system CPU time (from /proc). */
  cpuSeconds: number | undefined;
  /** Event-loop delay over the last heartbeat interval (worker module only). */
  loopDelayMs: { mean: number; max: number } | undefined;
  /** Since the worker last answered a heartbeat (worker module only). */
  heartbeatAgeMs: number | undefined;
  /** Forked from files overwritten in place since its generation was first forked: it does not run that generation's code. */
  overwritten: boolean;
}

/** A slot whose workers keep exiting quickly: restarts are backing off, like Kubernetes' CrashLoopBackOff. */
export interface CrashLoopStatus {
  workerId: number;
  quickCrashes: number;
  /** Set while the next restart is scheduled. */
  nextRestartInMs: number | undefined;
  lastExit: LastExit | undefined;
}

export interface SupervisorStatus {
  state: SupervisorState;
  pid: number;
  /** The newest release generation started (0 at start, +1 per rollout). */
  generation: number;
  /** The last generation that was fully ready: what crash restarts and rollbacks fork. */
  servingGeneration: number;
  /** Which generation each slot's ready worker runs. */
  serving: ServingWorker[];
  /** True when the slots' ready workers run more than one generation (a rollback that could not finish yet). */
  mixedGenerations: boolean;
  entry: string;
  workersWanted: number;
  workers: WorkerStatus[];
  crashLoop: CrashLoopStatus[];
  rollout: { generation: number; queued: boolean } | null;
  lastRollout: RolloutOutcome | null;
  /** The canary window a rollout holds for now, if any. */
  canary: CanaryProgress | null;
  /** The last canary's verdict and what the rollout did with it. */
  lastCanary: CanaryReport | null;
  /** The supervisor's counters (restarts by cause, rollouts, drains, cleanup), which survive every worker. */
  metrics: MetricsSnapshot;
  /** The listening sockets the supervisor owns (`listen` option, socket activation, a previous supervisor's). */
  listeners: ListenerInfo[];
}

export interface WorkerInfo {
  workerId: number;
  pid: number;
  generation: number;
}

export interface SupervisorEvents {
  state: [{ from: SupervisorState; to: SupervisorState }];
  fork: [WorkerInfo];
  ready: [WorkerInfo];
  listening: [{ workerId: number; pid: number; address: ListeningAddress }];
  exit: [WorkerInfo & WorkerExit];
  crash: [WorkerInfo & { code: number | null; signal: string | null; uptimeMs: number; quickCrashes: number; restartInMs: number; crashLoop: boolean; reason: string }];
  'rollout:start': [{ generation: number; workers: number }];
  'rollout:progress': [{ generation: number; workerId: number; oldPid: number | undefined; newPid: number; done: number; total: number }];
  'rollout:rollback': [{ generation: number; workerId: number; oldPid: number | undefined; newPid: number; toGeneration: number }];
  'canary:start': [CanaryProgress];
  'canary:verdict': [CanaryReport];
  'rollout:done': [RolloutResult];
  'rollout:failed': [{ generation: number; error: RolloutFailedError }];
  /** The first rollout of a release written over the serving one's files in place (once per supervisor). */
  'rollout:in-place': [{ generation: number; entryPath: string; message: string }];
  hung: [WorkerInfo & { silentForMs: number }];
  memory: [WorkerInfo & { rssBytes: number; limitBytes: number }];
  replace: [WorkerInfo & { reason: string }];
}
