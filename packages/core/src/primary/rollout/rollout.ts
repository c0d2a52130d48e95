/**
 * Start-first, in one place. Every way a worker enters a slot goes through startFirst(): the first start, a crash
 * restart, a hung / memory / replace-request replacement, each step of a rollout and of its rollback. It forks a
 * candidate, waits in one place for whichever comes first of ready, exit, a reported boot failure, the ready timeout
 * or the supervisor stopping, and only when the candidate is ready swaps it into its slot and retires the old worker.
 *
 * The fork function is passed in, so this file knows nothing of the supervisor.
 */
import { describeError } from '../../error-summary.js';
import type { RollbackSummary, ServingWorker } from '../../errors.js';
import type { ErrorSummary } from '../../protocol.js';
import type { Release } from '../releases/release.js';
import type { Slot } from './slot.js';
import type { CutReport, ReplacedWorker } from '../supervisor-types.js';
import type { WorkerExit, WorkerHandle } from '../workers/handle.js';

/** Why a candidate did not become ready. */
export type NotReady =
  | { kind: 'exited'; exit: WorkerExit }
  | { kind: 'boot-failed'; reason: string; error: ErrorSummary | undefined }
  | { kind: 'timeout'; timeoutMs: number; probe?: string }
  | { kind: 'stopped' };

export type ReadyOutcome = { kind: 'ready' } | NotReady;

export function describeNotReady(outcome: NotReady): string {
  switch (outcome.kind) {
    case 'exited': {
      const { exit } = outcome;
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      return `${how} before it was ready${exit.error ? `: ${describeError(exit.error)}` : ''}`;
    }
    case 'boot-failed':
      return `failed before it was ready: ${outcome.reason}`;
    case 'timeout':
      return `was not ready within ${outcome.timeoutMs}ms${outcome.probe === undefined ? '' : `: ${outcome.probe}`} (killed)`;
    case 'stopped':
      return 'was stopped before it was ready because the supervisor is stopping';
  }
}

/** Waits for whichever comes first: ready, exit, a reported boot failure, the timeout, or `stopping` aborting. */
export function waitForReady(handle: WorkerHandle, timeoutMs: number, stopping: AbortSignal): Promise<ReadyOutcome> {
  if (handle.state === 'ready') return Promise.resolve({ kind: 'ready' });
  return new Promise((resolve) => {
    const finish = (outcome: ReadyOutcome) => {
      clearTimeout(timer);
      handle.off('state', onState);
      handle.off('exit', onExit);
      handle.off('boot-failed', onBootFailed);
      stopping.removeEventListener('abort', onStop);
      resolve(outcome);
    };
    const onState = ({ to }: { to: string }) => {
      if (to === 'ready') finish({ kind: 'ready' });
    };
    const onExit = (exit: WorkerExit) => finish({ kind: 'exited', exit });
    const onBootFailed = ({ reason, error }: { reason: string; error: ErrorSummary | undefined }) =>
      finish({ kind: 'boot-failed', reason, error });
    const onStop = () => finish({ kind: 'stopped' });
    const timer = setTimeout(() => finish({ kind: 'timeout', timeoutMs, ...(handle.lastProbe === undefined ? {} : { probe: handle.lastProbe }) }), timeoutMs);
    timer.unref();
    handle.on('state', onState);
    handle.on('exit', onExit);
    handle.on('boot-failed', onBootFailed);
    if (stopping.aborted) onStop();
    else stopping.addEventListener('abort', onStop, { once: true });
    if (!handle.isAlive) onExit({ code: null, signal: null, expected: false, uptimeMs: handle.uptimeMs, stopReason: undefined, killedAtDeadline: false, error: handle.reportedError });
  });
}

export interface StepContext {
  /** Forks a worker of `release` for the slot `slotId` (the supervisor's fork, passed in). */
  fork(slotId: number, release: Release): WorkerHandle;
  readyTimeoutMs: number;
  /** Aborted when the supervisor starts stopping. */
  stopping: AbortSignal;
}

export type StepResult =
  | { ok: true; candidate: WorkerHandle; old: WorkerHandle | undefined; retired: Promise<WorkerExit> | undefined }
  | { ok: false; candidate: WorkerHandle; failure: NotReady };

/** How the step retires the worker it replaced: a drain, or a kill for one that cannot drain (hung). */
export type Retire = (old: WorkerHandle) => Promise<WorkerExit>;

/** How long a ready worker's answer to `accept` is waited for before its slot is counted as served anyway. */
const ACCEPTING_WAIT_MS = 2_000;

/** The start-first step. The old worker keeps serving until its replacement is ready; a failed candidate is killed. */
export async function startFirst(slot: Slot, release: Release, context: StepContext, retire: Retire): Promise<StepResult> {
  const candidate = context.fork(slot.id, release);
  const outcome = await waitForReady(candidate, context.readyTimeoutMs, context.stopping);
  if (outcome.kind !== 'ready') {
    // Reported once the process is gone, so nothing of a refused candidate outlives the answer.
    await candidate.kill(outcome.kind === 'timeout' ? 'not-ready' : outcome.kind === 'stopped' ? 'forced' : 'boot-failed');
    return { ok: false, candidate, failure: outcome };
  }
  // Held until now by the worker side (worker/accept-gate.ts): at a first start the port opens only then.
  await candidate.whenAccepting(ACCEPTING_WAIT_MS);
  const old = slot.swap(candidate);
  const retired = old?.isAlive ? retire(old) : undefined;
  return { ok: true, candidate, old, retired };
}

export interface RolloutContext extends StepContext {
  slots: readonly Slot[];
  batchSize: number;
  /** Retires a replaced worker with a drain. */
  drain: Retire;
  onProgress(event: { workerId: number; oldPid: number | undefined; newPid: number; done: number; total: number }): void;
  onRollback(event: { workerId: number; oldPid: number | undefined; newPid: number; toGeneration: number }): void;
  /** A canary: the first batch's size (smaller than batchSize so old workers are left to compare with). */
  firstBatchSize?: number;
  /**
   * A canary: runs once the first batch is ready and serving; a reason it returns refuses the rollout, which is then
   * rolled back like one whose worker failed before it was ready.
   */
  afterFirstBatch?: (candidates: WorkerHandle[]) => Promise<string | undefined>;
}

export type RolloutReport =
  | { ok: true; replaced: ReplacedWorker[]; cuts: CutReport[] }
  | { ok: false; replaced: ReplacedWorker[]; failure: { workerId?: number; pid?: number; reason: string }; rollback: RollbackSummary; cuts: CutReport[] };

/** Which generation each slot's ready worker runs. */
export function servingBySlot(slots: readonly Slot[]): ServingWorker[] {
  return slots.map((slot) => {
    const ready = slot.current && slot.current.state === 'ready' ? slot.current : undefined;
    return { workerId: slot.id, generation: ready?.generation, ...(ready?.overwritten ? { overwritten: true } : {}) };
  });
}

/**
 * "generation 0 serves on all 2 workers" or "worker 1 runs generation 1, worker 2 runs generation 0". A worker forked
 * from files overwritten in place since its generation was first forked is named apart: it does not run that code.
 */
export function describeServing(serving: readonly ServingWorker[]): string {
  const generations = new Set(serving.map((worker) => worker.generation));
  const [only] = generations;
  if (generations.size === 1 && only !== undefined && !serving.some((worker) => worker.overwritten)) {
    return `generation ${only} serves on all ${serving.length} worker${serving.length === 1 ? '' : 's'}`;
  }
  const parts = serving.map((worker) =>
    worker.generation === undefined
      ? `worker ${worker.workerId} is restarting`
      : worker.overwritten
        ? `worker ${worker.workerId} runs files overwritten in place since generation ${worker.generation} was forked`
        : `worker ${worker.workerId} runs generation ${worker.generation}`,
  );
  return `${generations.size > 1 ? 'mixed generations: ' : ''}${parts.join(', ')}`;
}

function batches<T>(items: readonly T[], size: number, firstSize = size): T[][] {
  const result: T[][] = items.length > 0 ? [items.slice(0, firstSize)] : [];
  for (let index = firstSize; index < items.length; index += size) result.push(items.slice(index, index + size));
  return result;
}

/** The workers among `retired` that were still serving at their drain deadline (cut or killed), once they exited. */
export async function collectCuts(retired: Array<{ handle: WorkerHandle; exit: Promise<WorkerExit> | WorkerExit }>): Promise<CutReport[]> {
  const exits = await Promise.all(retired.map(({ exit }) => exit));
  const cuts: CutReport[] = [];
  retired.forEach(({ handle }, index) => {
    const exit = exits[index]!;
    const cut = handle.drainOutcome?.cut;
    if (exit.killedAtDeadline || (cut ?? 0) > 0) {
      cuts.push({ workerId: handle.id, pid: handle.pid, generation: handle.generation, cut, killed: exit.killedAtDeadline });
    }
  });
  return cuts;
}

/**
 * One rollout: batch by batch, start-first into every slot. The first candidate that fails ends it, and every slot
 * it already moved to `target` is moved back to `previous` (rollBack), start-first too.
 */
export async function runRollout(target: Release, previous: Release, context: RolloutContext): Promise<RolloutReport> {
  const replaced: ReplacedWorker[] = [];
  const retired: Array<{ handle: WorkerHandle; exit: Promise<WorkerExit> }> = [];
  const total = context.slots.length;
  let failure: { workerId?: number; pid?: number; reason: string } | undefined;
  let first = true;
  let emptied: Slot[] = [];
  for (const batch of batches(context.slots, context.batchSize, context.firstBatchSize)) {
    if (context.stopping.aborted) {
      failure = { reason: 'was interrupted because the supervisor is stopping' };
      break;
    }
    const results = await Promise.all(batch.map((slot) => slot.exclusive(() => startFirst(slot, target, context, context.drain))));
    for (const result of results) {
      if (!result.ok) {
        failure ??= { workerId: result.candidate.id, pid: result.candidate.pid, reason: describeNotReady(result.failure) };
        continue;
      }
      const { candidate, old } = result;
      if (old && result.retired) retired.push({ handle: old, exit: result.retired });
      replaced.push({ workerId: candidate.id, oldPid: old?.pid, newPid: candidate.pid });
      context.onProgress({ workerId: candidate.id, oldPid: old?.pid, newPid: candidate.pid, done: replaced.length, total });
    }
    if (failure) break;
    if (first && context.afterFirstBatch) {
      const refused = await context.afterFirstBatch(results.flatMap((result) => (result.ok ? [result.candidate] : [])));
      if (refused !== undefined) {
        failure = { reason: refused };
        emptied = await retireRefusedCanaries(batch, target.generation, context, retired);
      }
    }
    first = false;
    if (failure) break;
  }
  if (!failure) return { ok: true, replaced, cuts: await collectCuts(retired) };
  const rollback = await rollBack(target.generation, previous, context, retired, emptied);
  return { ok: false, replaced, failure, rollback, cuts: await collectCuts(retired) };
}

/**
 * A canary refused for what it answered stops taking requests at once: its workers leave their slots and drain while
 * the old workers (a canary always leaves some) carry the load, and rollBack() refills the emptied slots. Start-first
 * would keep them answering 5xx until their replacements were ready.
 */
async function retireRefusedCanaries(
  batch: readonly Slot[],
  refusedGeneration: number,
  context: RolloutContext,
  retired: Array<{ handle: WorkerHandle; exit: Promise<WorkerExit> }>,
): Promise<Slot[]> {
  const emptied = await Promise.all(
    batch.map((slot) =>
      slot.exclusive(async () => {
        const canary = slot.current;
        if (!canary || canary.generation !== refusedGeneration) return undefined;
        slot.current = undefined;
        retired.push({ handle: canary, exit: context.drain(canary) });
        return slot;
      }),
    ),
  );
  return emptied.filter((slot): slot is Slot => slot !== undefined);
}

/**
 * Moves every slot still serving `refusedGeneration` back to `previous`, start-first, batch by batch. A slot whose
 * rollback candidate fails keeps its worker (something serves); the summary says so and the caller retries later.
 */
export async function rollBack(
  refusedGeneration: number,
  previous: Release,
  context: RolloutContext,
  retired: Array<{ handle: WorkerHandle; exit: Promise<WorkerExit> }> = [],
  emptied: readonly Slot[] = [],
): Promise<RollbackSummary> {
  // `emptied`: slots whose refused worker already left (a refused canary); refilled while they are still empty.
  const refused = (slot: Slot) =>
    slot.current === undefined ? emptied.includes(slot) : slot.current.generation === refusedGeneration;
  let rolledBack = 0;
  for (const batch of batches(context.slots.filter(refused), context.batchSize)) {
    if (context.stopping.aborted) break;
    const results = await Promise.all(
      batch.map((slot) =>
        slot.exclusive(async () => (refused(slot) ? startFirst(slot, previous, context, context.drain) : undefined)),
      ),
    );
    for (const result of results) {
      if (!result?.ok) continue;
      rolledBack++;
      if (result.old && result.retired) retired.push({ handle: result.old, exit: result.retired });
      context.onRollback({ workerId: result.candidate.id, oldPid: result.old?.pid, newPid: result.candidate.pid, toGeneration: previous.generation });
    }
  }
  const remaining = context.slots.filter(refused).length;
  return { toGeneration: previous.generation, rolledBack, remaining, complete: remaining === 0, serving: servingBySlot(context.slots) };
}
