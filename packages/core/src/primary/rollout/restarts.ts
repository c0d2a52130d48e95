/**
 * Keeping every slot filled: a worker that crashed is restarted with exponential back-off (forever; a slot with
 * quick crashes in a row is reported as crash-looping), and a worker that hung, grew over its memory limit or asked
 * for it is replaced start-first. Both fork the last generation that was fully ready, never a refused one.
 */
import type { ResolvedOptions } from '../../options.js';
import type { ShutdownReason } from '../../protocol.js';
import type { RestartCause, SupervisorMetrics } from '../metrics/supervisor-metrics.js';
import type { Release } from '../releases/release.js';
import { IN_PLACE_ADVICE, overwrittenSince } from '../releases/in-place.js';
import { describeNotReady, startFirst, type RolloutContext, type StepResult } from './rollout.js';
import type { Slot } from './slot.js';
import type { SupervisorEvents, SupervisorState, WorkerInfo } from '../supervisor-types.js';
import type { WorkerExit, WorkerHandle } from '../workers/handle.js';

/** A slot with this many quick crashes in a row is reported as crash-looping. */
const CRASH_LOOP_THRESHOLD = 2;

/** The delay before the `attempt`th restart (from 1): exponential, capped, with jitter. */
export function backoffDelay({ initialMs, maxMs, multiplier, jitter }: ResolvedOptions['backoff'], attempt: number): number {
  const base = Math.min(maxMs, initialMs * multiplier ** (attempt - 1));
  const spread = 1 + jitter * (2 * Math.random() - 1);
  return Math.max(0, Math.round(Math.min(maxMs, base * spread)));
}

/** What restarts need of the supervisor, which owns the slots, the releases and the state. */
export interface RestartContext {
  options: ResolvedOptions;
  metrics: SupervisorMetrics;
  log: () => ResolvedOptions['logger'];
  state: () => SupervisorState;
  lastGood: () => Release | undefined;
  info: (handle: WorkerHandle) => WorkerInfo;
  emit: (event: 'crash', payload: SupervisorEvents['crash'][0]) => void;
  stepContext: () => RolloutContext;
  step: (slot: Slot, release: Release, reason: ShutdownReason) => Promise<StepResult>;
}

export class Restarts {
  /** Slot owners with a replacement (hung, memory, replace request) under way. */
  private readonly beingReplaced = new Set<WorkerHandle>();

  constructor(private readonly context: RestartContext) {}

  /** True while a start-first replacement of this worker is under way. */
  isBeingReplaced(handle: WorkerHandle): boolean {
    return this.beingReplaced.has(handle);
  }

  /** A slot lost its worker, or a restart candidate failed: count it, report it, restart with back-off. */
  recordCrash(slot: Slot, handle: WorkerHandle, exit: WorkerExit | undefined, what: string): void {
    const info = this.context.info(handle);
    const uptimeMs = exit?.uptimeMs ?? handle.uptimeMs;
    const quick = handle.readyAt === undefined || uptimeMs < this.context.options.minUptimeMs;
    slot.quickCrashes = quick ? slot.quickCrashes + 1 : 0;
    slot.lastExit = { code: exit?.code ?? null, signal: exit?.signal ?? null, uptimeMs };
    const delayMs = quick ? backoffDelay(this.context.options.backoff, slot.quickCrashes) : 0;
    const crashLoop = slot.quickCrashes >= CRASH_LOOP_THRESHOLD;
    if (!exit?.expected) {
      this.context.metrics.crashes.inc();
      this.context.emit('crash', { ...info, code: exit?.code ?? null, signal: exit?.signal ?? null, uptimeMs, quickCrashes: slot.quickCrashes, restartInMs: delayMs, crashLoop, reason: what });
    }
    // Named every time: after a refused release this is the previous generation, not the newest one.
    const lastGood = this.context.lastGood();
    const overwritten = lastGood && overwrittenSince(lastGood) ? ` from files overwritten in place since it was forked (not its code; ${IN_PLACE_ADVICE})` : '';
    const restarting = lastGood ? ` generation ${lastGood.generation}${overwritten}` : '';
    const details = { ...info, code: exit?.code, signal: exit?.signal, uptimeMs, quickCrashes: slot.quickCrashes, restartInMs: delayMs };
    if (crashLoop) {
      this.context.log().error(details, `worker ${handle.id} (pid ${handle.pid}) ${what} after ${uptimeMs}ms; CrashLoopBackOff: ${slot.quickCrashes} quick crashes in a row, restarting${restarting} in ${delayMs}ms (never gives up)`);
    } else {
      this.context.log().warn(details, `worker ${handle.id} (pid ${handle.pid}) ${what} after ${uptimeMs}ms; restarting${restarting} in ${delayMs}ms`);
    }
    slot.scheduleRestart(delayMs, () =>
      void this.restart(slot).catch((error: Error) => this.context.log().error({ workerId: slot.id }, `worker ${slot.id} could not be restarted: ${error.message}`)),
    );
  }

  /** A crash restart forks the last generation that was fully ready, never a refused one. */
  private restart(slot: Slot): Promise<void> {
    return slot.exclusive(async () => {
      const release = this.context.lastGood();
      if (this.context.state() !== 'running' || slot.current || slot.retired || !release) return;
      slot.restarts++;
      const result = await this.context.step(slot, release, 'replace');
      if (result.ok) this.context.metrics.restarts.inc({ cause: 'crash' satisfies RestartCause });
      if (!result.ok && result.failure.kind !== 'stopped' && this.context.state() === 'running' && !slot.current) {
        const exit = result.failure.kind === 'exited' ? result.failure.exit : undefined;
        this.recordCrash(slot, result.candidate, exit, describeNotReady(result.failure));
      }
    });
  }

  /** Start-first replacement of one worker (hung, over its memory limit, or asking for it). */
  replace(slot: Slot, old: WorkerHandle, reason: 'hung' | Extract<ShutdownReason, 'memory' | 'replace'>): void {
    if (this.beingReplaced.has(old) || this.context.state() !== 'running' || slot.current !== old || old.state !== 'ready') return;
    this.beingReplaced.add(old);
    const retire = (handle: WorkerHandle) => (reason === 'hung' ? handle.kill('hung') : handle.stop(reason, this.context.options.killAfterMs));
    void slot
      .exclusive(async () => {
        const release = this.context.lastGood();
        // A crash in the meantime is the restart path's business.
        if (this.context.state() !== 'running' || slot.current !== old || slot.retired || !release) return;
        const result = await startFirst(slot, release, this.context.stepContext(), retire);
        if (result.ok) {
          slot.restarts++;
          this.context.metrics.restarts.inc({ cause: reason satisfies RestartCause });
          this.context.log().info({ workerId: slot.id, oldPid: old.pid, newPid: result.candidate.pid, reason }, `worker ${slot.id} replaced (${reason}): ${old.pid} -> ${result.candidate.pid}`);
          return;
        }
        const why = describeNotReady(result.failure);
        this.context.log().error({ workerId: slot.id, pid: old.pid, reason: why }, `could not replace worker ${slot.id} (${reason}): the new worker ${why}`);
        // A hung worker serves nothing and one that asked to go is broken: stop it anyway, the crash path restarts it.
        // One over its memory limit still serves: keep it and try again at the next check.
        if (reason !== 'memory' && result.failure.kind !== 'stopped') void retire(old);
      })
      .catch((error: Error) => this.context.log().error({ workerId: slot.id }, `worker ${slot.id} could not be replaced (${reason}): ${error.message}`))
      .finally(() => this.beingReplaced.delete(old));
  }
}
