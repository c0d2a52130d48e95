/**
 * What a deploy does, as numbers that belong to the supervisor, so they survive every worker that comes and goes:
 * restarts by cause, rollouts by outcome and duration, time to ready, and each drain (duration, requests in flight,
 * requests and long-lived connections cut, idle sockets closed, cleanup). The supervisor feeds it; it renders the
 * Prometheus text format and a JSON snapshot for `zdt status --json`.
 */
import { readFileSync } from 'node:fs';
import { Counter, Histogram, type Family } from './exposition.js';

export type RestartCause = 'crash' | 'reload' | 'rollback' | 'hung' | 'memory' | 'replace' | 'scale';

/** One worker process as the metrics see it at scrape time. */
export interface WorkerSample {
  workerId: number;
  pid: number;
  generation: number;
  state: string;
  uptimeMs: number;
  rssBytes: number | undefined;
  cpuSeconds: number | undefined;
  loopDelayMs: { mean: number; max: number } | undefined;
  heartbeatAgeMs: number | undefined;
  overwritten?: boolean;
}

export interface SupervisorSample {
  generation: number;
  servingGeneration: number;
  mixedGenerations: boolean;
  workersWanted: number;
  workers: WorkerSample[];
  /** A canary window is open. */
  canaryInProgress: boolean;
}

/** The kernel's clock ticks per second for /proc/<pid>/stat times: USER_HZ, 100 on Linux's common architectures. */
const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU time of a process from /proc, in seconds; undefined where /proc is missing. */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const userTicks = Number(fields[11]);
    const systemTicks = Number(fields[12]);
    if (!Number.isFinite(userTicks) || !Number.isFinite(systemTicks)) return undefined;
    return (userTicks + systemTicks) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export interface DrainSample {
  reason: string;
  durationMs: number | undefined;
  inFlight: number;
  served: number;
  cut: number;
  cutLongLived: number;
  idleClosed: number;
  unprocessed: number;
}

export class SupervisorMetrics {
  readonly restarts = new Counter('zdt_restarts_total', 'Workers started into a slot after the first start, by cause: crash, reload (rollout), rollback, hung, memory, replace (asked by the worker), scale.');
  readonly crashes = new Counter('zdt_worker_crashes_total', 'Workers that exited without being asked to (including failures before ready).');
  readonly rollouts = new Counter('zdt_rollouts_total', 'Rollouts by outcome: done, or refused (a new worker failed before it was ready and the rollout was rolled back).');
  readonly rolloutDuration = new Histogram('zdt_rollout_duration_seconds', 'Rollout duration from start to the last old worker gone (a refused one: including its rollback).', [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300]);
  readonly readyTime = new Histogram('zdt_worker_ready_seconds', 'Time from fork to ready, per worker.', [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30]);
  readonly drains = new Counter('zdt_drains_total', 'Worker drains reported by the worker module, by reason.');
  readonly drainDuration = new Histogram('zdt_drain_duration_seconds', 'HTTP drain duration, from the trigger to the last connection closed.', [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]);
  readonly drainInFlight = new Counter('zdt_drain_requests_in_flight_total', 'Requests in flight when a drain started, summed over drains.');
  readonly drainServed = new Counter('zdt_drain_requests_served_total', 'Requests answered after a drain started.');
  readonly drainUnprocessed = new Counter('zdt_drain_requests_unprocessed_total', 'Requests never handed to the app during a drain: parsed after their connection\'s closing answer went out (the client may resend them).');
  readonly drainCut = new Counter('zdt_drain_cut_total', 'Connections destroyed at the drain deadline with work still running, by kind: request, long_lived (WebSocket, event stream).');
  readonly drainIdleClosed = new Counter('zdt_drain_idle_sockets_closed_total', 'Idle keep-alive sockets closed after their grace period during drains.');
  readonly killedAtDeadline = new Counter('zdt_workers_killed_at_deadline_total', 'Stopping workers SIGKILLed at the kill deadline (drain + cleanup + 1 s).');
  readonly cleanupDuration = new Histogram('zdt_cleanup_duration_seconds', 'Duration of the cleanup hooks after a drain.', [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30]);
  readonly cleanupFailures = new Counter('zdt_cleanup_failures_total', 'Cleanup hooks that failed or timed out.');
  readonly canaryRequests = new Counter('zdt_canary_requests_total', 'Responses counted during canary windows, by generation and role (canary: the new batch; baseline: the old generation).');
  readonly canaryErrors = new Counter('zdt_canary_errors_total', 'Responses with a 5xx status counted during canary windows, by generation and role.');
  readonly canaryVerdicts = new Counter('zdt_canary_verdicts_total', 'Canary verdicts, by outcome (pass, fail, thin: too few requests) and decision (accepted, refused).');

  drained(sample: DrainSample): void {
    this.drains.inc({ reason: sample.reason });
    if (sample.durationMs !== undefined) this.drainDuration.observe(sample.durationMs / 1000);
    this.drainInFlight.inc({}, sample.inFlight);
    this.drainServed.inc({}, sample.served);
    this.drainCut.inc({ kind: 'request' }, sample.cut - sample.cutLongLived);
    this.drainCut.inc({ kind: 'long_lived' }, sample.cutLongLived);
    this.drainIdleClosed.inc({}, sample.idleClosed);
    this.drainUnprocessed.inc({}, sample.unprocessed);
  }

  families(sample: SupervisorSample): Family[] {
    const byState = new Map<string, number>([['starting', 0], ['ready', 0], ['stopping', 0]]);
    for (const worker of sample.workers) byState.set(worker.state, (byState.get(worker.state) ?? 0) + 1);
    const perWorker = (name: string, help: string, type: Family['type'], value: (worker: WorkerSample) => number | undefined): Family => ({
      name,
      help,
      type,
      samples: sample.workers.flatMap((worker) => {
        const number = value(worker);
        return number === undefined ? [] : [{ labels: { worker: worker.workerId, pid: worker.pid }, value: number }];
      }),
    });
    return [
      { name: 'zdt_workers', help: 'Worker processes by state.', type: 'gauge', samples: [...byState].map(([state, value]) => ({ labels: { state }, value })) },
      { name: 'zdt_workers_wanted', help: 'Worker slots the supervisor keeps.', type: 'gauge', samples: [{ value: sample.workersWanted }] },
      { name: 'zdt_generation', help: 'The newest generation started (0 at start, +1 per rollout).', type: 'gauge', samples: [{ value: sample.generation }] },
      { name: 'zdt_serving_generation', help: 'The last generation that was fully ready: what restarts and rollbacks fork.', type: 'gauge', samples: [{ value: sample.servingGeneration }] },
      {
        name: 'zdt_workers_overwritten',
        help: "Ready workers forked from files overwritten in place since their generation was first forked (after a refused in-place release: workers running the refused files).",
        type: 'gauge',
        samples: [{ value: sample.workers.filter((worker) => worker.state === 'ready' && worker.overwritten).length }],
      },
      { name: 'zdt_mixed_generations', help: '1 while ready workers run more than one generation (a rollback being retried).', type: 'gauge', samples: [{ value: sample.mixedGenerations ? 1 : 0 }] },
      {
        name: 'zdt_worker_info',
        help: 'One series per worker process: its slot, pid, generation and state.',
        type: 'gauge',
        samples: sample.workers.map((worker) => ({ labels: { worker: worker.workerId, pid: worker.pid, generation: worker.generation, state: worker.state }, value: 1 })),
      },
      perWorker('zdt_worker_rss_bytes', 'Resident set size of each worker.', 'gauge', (worker) => worker.rssBytes),
      perWorker('zdt_worker_cpu_seconds_total', 'User and system CPU time of each worker process.', 'counter', (worker) => worker.cpuSeconds),
      perWorker('zdt_worker_uptime_seconds', 'Time since each worker was forked.', 'gauge', (worker) => worker.uptimeMs / 1000),
      perWorker('zdt_worker_heartbeat_age_seconds', 'Time since each worker (with the worker module) last answered a heartbeat.', 'gauge', (worker) => (worker.heartbeatAgeMs === undefined ? undefined : worker.heartbeatAgeMs / 1000)),
      perWorker('zdt_worker_event_loop_delay_mean_seconds', 'Mean event-loop delay of each worker over the last heartbeat interval.', 'gauge', (worker) => (worker.loopDelayMs ? worker.loopDelayMs.mean / 1000 : undefined)),
      perWorker('zdt_worker_event_loop_delay_max_seconds', 'Longest event-loop delay of each worker over the last heartbeat interval.', 'gauge', (worker) => (worker.loopDelayMs ? worker.loopDelayMs.max / 1000 : undefined)),
      this.restarts.family(),
      this.crashes.family(),
      this.rollouts.family(),
      this.rolloutDuration.family(),
      this.readyTime.family(),
      this.drains.family(),
      this.drainDuration.family(),
      this.drainInFlight.family(),
      this.drainServed.family(),
      this.drainCut.family(),
      this.drainIdleClosed.family(),
      this.drainUnprocessed.family(),
      this.killedAtDeadline.family(),
      this.cleanupDuration.family(),
      this.cleanupFailures.family(),
      { name: 'zdt_canary_in_progress', help: '1 while a rollout holds for its canary window.', type: 'gauge', samples: [{ value: sample.canaryInProgress ? 1 : 0 }] },
      this.canaryRequests.family(),
      this.canaryErrors.family(),
      this.canaryVerdicts.family(),
    ];
  }

  /** The event counters for `status().metrics`: counters by labels, histograms as count and sum. */
  snapshot() {
    return {
      restarts: this.restarts.snapshot(),
      crashes: this.crashes.snapshot(),
      rollouts: this.rollouts.snapshot(),
      rolloutDurationSeconds: this.rolloutDuration.snapshot(),
      workerReadySeconds: this.readyTime.snapshot(),
      drains: this.drains.snapshot(),
      drainDurationSeconds: this.drainDuration.snapshot(),
      drainRequestsInFlight: this.drainInFlight.snapshot(),
      drainRequestsServed: this.drainServed.snapshot(),
      drainCut: this.drainCut.snapshot(),
      drainIdleSocketsClosed: this.drainIdleClosed.snapshot(),
      drainRequestsUnprocessed: this.drainUnprocessed.snapshot(),
      workersKilledAtDeadline: this.killedAtDeadline.snapshot(),
      cleanupDurationSeconds: this.cleanupDuration.snapshot(),
      cleanupFailures: this.cleanupFailures.snapshot(),
      canaryRequests: this.canaryRequests.snapshot(),
      canaryErrors: this.canaryErrors.snapshot(),
      canaryVerdicts: this.canaryVerdicts.snapshot(),
    };
  }
}

export type MetricsSnapshot = ReturnType<SupervisorMetrics['snapshot']>;
