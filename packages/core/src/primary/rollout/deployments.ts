/**
 * Deployments: one serial loop of rollouts (start-first, batch by batch, rolled back when a new worker fails before it
 * is ready), the reload queue (a reload during a rollout queues exactly one more; every further request joins it),
 * the retries of a rollback that could not finish, and scale requests, which change the slot table in the same queue.
 */
import { InvalidStateError, RolloutFailedError, ScaleFailedError, type RollbackSummary } from '../../errors.js';
import { resolveReloadUpdate, type ReloadUpdate, type ResolvedOptions, type ResolvedReloadUpdate } from '../../options.js';
import type { ShutdownReason } from '../../protocol.js';
import type { RestartCause, SupervisorMetrics } from '../metrics/supervisor-metrics.js';
import { resolveRelease, type Release, type ReleaseSettings } from '../releases/release.js';
import { describeInPlaceRollback, inPlaceWarning, writtenInPlace } from '../releases/in-place.js';
import { backoffDelay } from './restarts.js';
import { Canary, type CanaryReport } from '../canary/canary.js';
import {
  describeNotReady,
  describeServing,
  rollBack,
  runRollout,
  servingBySlot,
  type RolloutContext,
  type StepResult,
} from './rollout.js';
import type { Slot } from './slot.js';
import type { SlotTable } from './slot-table.js';
import type { CutReport, ReplacedWorker, RolloutOutcome, RolloutResult, ScaleResult, SupervisorEvents, SupervisorState } from '../supervisor-types.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What deployments need of the supervisor, which owns the workers and the state. */
export interface DeploymentHost {
  options: ResolvedOptions;
  metrics: SupervisorMetrics;
  log: () => ResolvedOptions['logger'];
  state: () => SupervisorState;
  emit: <Event extends keyof SupervisorEvents>(event: Event, ...args: SupervisorEvents[Event]) => void;
  stepContext: () => RolloutContext;
  step: (slot: Slot, release: Release, reason: ShutdownReason) => Promise<StepResult>;
}

export class Deployments {
  /** The newest generation started. */
  generation = 0;
  /** The last release whose every worker became ready: forked by crash restarts, replacements and rollbacks. */
  lastGood: Release | undefined;
  /** The settings the next generation is started with; a reload may bring new ones. */
  settings: ReleaseSettings;
  lastRollout: RolloutOutcome | null = null;
  /** Canary windows: their progress, the last verdict, and the workers' counts. */
  readonly canary: Canary;
  private activeRollout: { generation: number; promise: Promise<RolloutResult> } | undefined;
  private queuedRollout: Deferred<RolloutResult> | undefined;
  private rollbackRetry: { timer: NodeJS.Timeout; attempts: number } | undefined;
  /** What the next rollout applies: the last reload request's update wins. */
  private pendingUpdate: ResolvedReloadUpdate | undefined;
  /** The first rollout of a release written in place is warned about, once. */
  private warnedInPlace = false;

  constructor(
    private readonly host: DeploymentHost,
    private readonly table: SlotTable,
  ) {
    this.settings = { env: host.options.env, args: host.options.args, execArgv: host.options.execArgv };
    this.canary = new Canary(host.metrics);
  }

  /** The rollout under way, for the status. */
  rolloutStatus(): { generation: number; queued: boolean } | null {
    return this.activeRollout ? { generation: this.activeRollout.generation, queued: this.queuedRollout !== undefined } : null;
  }

  /**
   * Replaces every worker start-first with a fork of the code now on disk.
   * Concurrency rule: a reload while a rollout runs queues exactly one more
   * rollout; every further request joins that queued one (it will fork the
   * newest code anyway).
   */
  reload(update?: ReloadUpdate): Promise<RolloutResult> {
    if (this.host.state() !== 'running') return Promise.reject(new InvalidStateError('reload', this.host.state()));
    if (update !== undefined) {
      try {
        // The newest request's settings win: a queued rollout forks with what was asked last.
        this.pendingUpdate = { ...this.pendingUpdate, ...resolveReloadUpdate(update) };
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (!this.activeRollout) return this.beginRollout();
    if (!this.queuedRollout) {
      this.queuedRollout = deferred();
      this.host.log().info({ running: this.activeRollout.generation }, 'reload requested during a rollout: one more rollout queued');
    } else {
      this.host.log().info({ running: this.activeRollout.generation }, 'reload requested: joins the rollout already queued');
    }
    return this.queuedRollout.promise;
  }

  private beginRollout(): Promise<RolloutResult> {
    const generation = ++this.generation;
    const promise = this.table.change(() => this.rollOut(generation)).finally(() => {
      this.activeRollout = undefined;
      const queued = this.queuedRollout;
      this.queuedRollout = undefined;
      if (!queued) return;
      if (this.host.state() === 'running') this.beginRollout().then(queued.resolve, queued.reject);
      else queued.reject(new InvalidStateError('reload', this.host.state()));
    });
    this.activeRollout = { generation, promise };
    return promise;
  }

  private async rollOut(generation: number): Promise<RolloutResult> {
    const startedAt = Date.now();
    const previous = this.lastGood!;
    const update = this.pendingUpdate ?? {};
    this.pendingUpdate = undefined;
    const settings: ReleaseSettings = {
      env: update.env ?? this.settings.env,
      args: update.args ?? this.settings.args,
      execArgv: update.execArgv ?? this.settings.execArgv,
    };
    this.cancelRollbackRetry();
    // Fewer workers: drain the extra ones first, so the rollout replaces only what stays.
    const cuts: CutReport[] = [];
    if (update.workers !== undefined && update.workers < this.table.slots.length) {
      cuts.push(...(await this.table.remove(this.table.slots.length - update.workers, this.host.options.killAfterMs, this.host.log())).cuts);
    }
    // More workers: empty slots the rollout fills with the new generation, start-first like the others.
    const added = update.workers !== undefined && update.workers > this.table.slots.length ? this.table.add(update.workers - this.table.slots.length) : [];
    const total = this.table.slots.length;
    this.host.emit('rollout:start', { generation, workers: total });
    const context: RolloutContext = {
      ...this.host.stepContext(),
      onProgress: ({ workerId, oldPid, newPid, done }) => {
        this.host.metrics.restarts.inc({ cause: 'reload' satisfies RestartCause });
        this.host.emit('rollout:progress', { generation, workerId, oldPid, newPid, done, total });
      },
      onRollback: ({ workerId, oldPid, newPid, toGeneration }) => {
        this.host.metrics.restarts.inc({ cause: 'rollback' satisfies RestartCause });
        this.host.emit('rollout:rollback', { generation, workerId, oldPid, newPid, toGeneration });
      },
    };
    let canary: CanaryReport | undefined;
    Object.assign(context, this.canaryStep(generation, previous, update.canaryMs ?? this.host.options.canaryMs, (report) => (canary = report)));

    let target: Release;
    try {
      target = resolveRelease(generation, this.host.options.cwd, this.host.options.entryPath, settings);
    } catch (error) {
      this.table.dropEmpty(added);
      return this.rolloutFailed(generation, startedAt, [], { reason: `could not be resolved: ${(error as Error).message}` }, this.noRollback(previous), cuts);
    }
    const inPlace = writtenInPlace(target, previous);
    if (inPlace && !this.warnedInPlace) {
      this.warnedInPlace = true;
      this.host.emit('rollout:in-place', { generation, entryPath: target.entryPath, message: inPlaceWarning(target, previous) });
    }
    const report = await runRollout(target, previous, context);
    report.cuts.unshift(...cuts);
    if (!report.ok) {
      // The workers this reload added are not wanted after all: the worker count goes back with the code.
      const stillAdded = added.filter((slot) => this.table.slots.includes(slot));
      if (stillAdded.length > 0) report.cuts.push(...(await this.table.remove(stillAdded.length, this.host.options.killAfterMs, this.host.log())).cuts);
      report.rollback.serving = servingBySlot(this.table.slots);
      // A refused canary whose refill failed leaves its slot empty: it counts as not rolled back yet.
      report.rollback.remaining = report.rollback.serving.filter((worker) => worker.generation === generation).length + this.orphanedSlots().length;
      report.rollback.complete = report.rollback.remaining === 0;
      if (inPlace) report.rollback.overwritten = report.rollback.serving.filter((worker) => worker.overwritten).map((worker) => worker.workerId);
      return this.rolloutFailed(generation, startedAt, report.replaced, report.failure, report.rollback, report.cuts, inPlace ? target.entryPath : undefined);
    }
    this.settings = settings;
    this.lastGood = target;
    const serving = servingBySlot(this.table.slots);
    const result: RolloutResult = { generation, replaced: report.replaced, durationMs: Date.now() - startedAt, cuts: report.cuts, serving, ...(canary ? { canary } : {}) };
    this.lastRollout = { generation, outcome: 'done', replaced: report.replaced, cuts: report.cuts, startedAt: new Date(startedAt).toISOString(), durationMs: result.durationMs };
    this.host.metrics.rollouts.inc({ outcome: 'done' });
    this.host.metrics.rolloutDuration.observe(result.durationMs / 1000);
    this.host.emit('rollout:done', result);
    return result;
  }

  /**
   * The rollout's canary, when `canaryMs` is set: a first batch that leaves old workers to compare with, held for the
   * window after it is ready. With one worker there is nothing to compare with: the rollout goes on, and says so.
   */
  private canaryStep(generation: number, previous: Release, canaryMs: number, verdict: (report: CanaryReport) => void): Partial<RolloutContext> {
    if (canaryMs === 0) return {};
    const total = this.table.slots.length;
    if (total < 2) {
      this.host.log().warn({ generation, canaryMs }, `canary skipped for generation ${generation}: it needs 2 workers or more (one to compare with), the supervisor runs ${total}`);
      return {};
    }
    const { canaryMinRequests: minRequests, canaryThinTraffic: thinTraffic, rolloutBatchSize } = this.host.options;
    const counted = () => this.table.slots.flatMap((slot) => (slot.current?.state === 'ready' && slot.current.speaksProtocol ? [slot.current] : []));
    return {
      firstBatchSize: Math.min(rolloutBatchSize, total - 1),
      afterFirstBatch: (candidates) =>
        this.canary.hold(candidates, counted, { canary: generation, baseline: previous.generation }, { windowMs: canaryMs, minRequests, thinTraffic }, this.host.stepContext().stopping, {
          start: (progress) => this.host.emit('canary:start', progress),
          verdict: (report) => {
            verdict(report);
            this.host.emit('canary:verdict', report);
          },
        }),
    };
  }

  /**
   * Adds or removes workers without touching the others: new slots get a worker of the serving generation,
   * start-first; removed slots (the highest ids) have their workers drained. Waits for a rollout under way.
   */
  scale(workers: number): Promise<ScaleResult> {
    if (this.host.state() !== 'running') return Promise.reject(new InvalidStateError('scale', this.host.state()));
    let wanted: number;
    try {
      wanted = resolveReloadUpdate({ workers }).workers!;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.table.change(async () => {
      const before = this.table.slots.length;
      this.host.log().info({ from: before, to: wanted }, `scaling from ${before} to ${wanted} worker(s)`);
      if (wanted < before) {
        const { removed, cuts } = await this.table.remove(before - wanted, this.host.options.killAfterMs, this.host.log());
        return { workers: this.table.slots.length, added: [], removed, cuts };
      }
      const release = this.lastGood!;
      const slots = this.table.add(wanted - before);
      const results = await Promise.all(slots.map((slot) => slot.exclusive(() => this.host.step(slot, release, 'scale'))));
      const failed = results.find((result) => !result.ok);
      if (failed && !failed.ok) {
        this.table.dropEmpty(slots);
        throw new ScaleFailedError(
          `Scaling to ${wanted} workers failed: new worker ${failed.candidate.id} (pid ${failed.candidate.pid}) ${describeNotReady(failed.failure)}; ${describeServing(servingBySlot(this.table.slots))}`,
          this.table.slots.length,
        );
      }
      this.host.metrics.restarts.inc({ cause: 'scale' satisfies RestartCause }, slots.length);
      this.host.log().info({ workers: this.table.slots.length }, `scaled to ${this.table.slots.length} worker(s)`);
      return { workers: this.table.slots.length, added: slots.map((slot) => slot.id), removed: [], cuts: [] };
    });
  }

  private noRollback(previous: Release): RollbackSummary {
    return { toGeneration: previous.generation, rolledBack: 0, remaining: 0, complete: true, serving: servingBySlot(this.table.slots) };
  }

  private rolloutFailed(
    generation: number,
    startedAt: number,
    replaced: ReplacedWorker[],
    failure: { workerId?: number; pid?: number; reason: string },
    rollback: RollbackSummary,
    cuts: CutReport[],
    inPlaceEntry?: string,
  ): never {
    const error = new RolloutFailedError({ generation, ...failure, rollback, outcome: this.describeRollback(rollback, inPlaceEntry) });
    this.lastRollout = {
      generation,
      outcome: 'failed',
      replaced,
      reason: failure.workerId === undefined ? failure.reason : `worker ${failure.workerId} (pid ${failure.pid}) ${failure.reason}`,
      rollback,
      cuts,
      startedAt: new Date(startedAt).toISOString(),
      durationMs: Date.now() - startedAt,
    };
    this.host.metrics.rollouts.inc({ outcome: 'refused' });
    this.host.metrics.rolloutDuration.observe(this.lastRollout.durationMs / 1000);
    this.host.emit('rollout:failed', { generation, error });
    if (!rollback.complete && this.host.state() === 'running') this.scheduleRollbackRetry(generation);
    throw error;
  }

  private describeRollback(rollback: RollbackSummary, inPlaceEntry: string | undefined): string {
    const serving = describeServing(rollback.serving);
    if (this.host.state() !== 'running') return `the supervisor is ${this.host.state()}; ${serving}`;
    if (inPlaceEntry !== undefined && rollback.complete) {
      return describeInPlaceRollback({ ...rollback, overwritten: rollback.overwritten ?? [] }, rollback.serving.length, inPlaceEntry);
    }
    if (!rollback.complete) {
      return `rolled back ${rollback.rolledBack} worker(s) to generation ${rollback.toGeneration}, ${rollback.remaining} could not be yet: ${serving}; retrying the rollback with back-off`;
    }
    if (rollback.rolledBack === 0) return `nothing was replaced: ${serving}`;
    return `rolled back ${rollback.rolledBack} worker${rollback.rolledBack === 1 ? '' : 's'} to generation ${rollback.toGeneration}: ${serving}`;
  }

  /** A rollback that could not finish is tried again with back-off until it does, a new rollout starts, or stop. */
  private scheduleRollbackRetry(refusedGeneration: number): void {
    const attempts = (this.rollbackRetry?.attempts ?? 0) + 1;
    const delayMs = backoffDelay(this.host.options.backoff, attempts);
    this.host.log().warn({ refusedGeneration, attempts, delayMs }, `rollback of generation ${refusedGeneration} incomplete: retrying in ${delayMs}ms`);
    const timer = setTimeout(() => {
      void (async () => {
        const previous = this.lastGood;
        if (this.host.state() !== 'running' || this.activeRollout || !previous) return;
        const summary = await rollBack(refusedGeneration, previous, {
          ...this.host.stepContext(),
          onRollback: ({ workerId, oldPid, newPid, toGeneration }) => {
            this.host.metrics.restarts.inc({ cause: 'rollback' satisfies RestartCause });
            this.host.emit('rollout:rollback', { generation: refusedGeneration, workerId, oldPid, newPid, toGeneration });
          },
        }, [], this.orphanedSlots());
        if (this.lastRollout?.generation === refusedGeneration && this.lastRollout.rollback) {
          this.lastRollout.rollback = { ...summary, rolledBack: this.lastRollout.rollback.rolledBack + summary.rolledBack };
        }
        if (summary.complete) {
          this.rollbackRetry = undefined;
          this.host.log().info({ refusedGeneration }, `rollback of generation ${refusedGeneration} complete: ${describeServing(summary.serving)}`);
        } else if (this.host.state() === 'running' && !this.activeRollout) {
          this.scheduleRollbackRetry(refusedGeneration);
        }
      })();
    }, delayMs);
    timer.unref();
    this.rollbackRetry = { timer, attempts };
  }

  /**
   * Slots with no worker and no restart coming: a refused canary's, left empty when its refill failed. Between
   * rollouts nothing else leaves a slot so (a crash schedules a restart; a failed rollout removes the slots it added).
   */
  private orphanedSlots(): Slot[] {
    return this.table.slots.filter((slot) => slot.current === undefined && !slot.retired && !slot.restartPending);
  }

  cancelRollbackRetry(): void {
    if (this.rollbackRetry) clearTimeout(this.rollbackRetry.timer);
    this.rollbackRetry = undefined;
  }
}
