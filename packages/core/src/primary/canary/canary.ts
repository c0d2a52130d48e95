/**
 * Canary analysis: after the first batch of a rollout is ready and serving, the rollout holds for a window in which
 * every worker (the new batch and the old generation's) counts its responses and 5xx; at the end verdict.ts
 * judges, and a refusal becomes the rollout's failure, so the rollout is rolled back like one whose worker failed
 * before it was ready. Counting runs in the workers only while a window is open (worker/status-count.ts).
 */
import { canaryVerdict, CANARY_ALPHA, CANARY_MARGIN, type CanaryCounts, type CanaryVerdict } from './verdict.js';
import type { ThinTraffic } from '../../settings/canary-options.js';
import type { SupervisorMetrics } from '../metrics/supervisor-metrics.js';
import { describeExit, type WorkerExit, type WorkerHandle } from '../workers/handle.js';

/** What a canary does when too few requests reached it: accept, refuse, or keep the window open longer. */
export type { ThinTraffic } from '../../settings/canary-options.js';

/** Under `extend`, the window grows by its own length at a time, up to this many times its length in all. */
export const CANARY_EXTEND_LIMIT = 5;

/** How long the workers get to answer with their counts once a window closes. */
const COUNTS_TIMEOUT_MS = 2_000;

export interface CanarySettings {
  windowMs: number;
  minRequests: number;
  thinTraffic: ThinTraffic;
}

/** A canary window in progress, for the status. */
export interface CanaryProgress {
  generation: number;
  baselineGeneration: number;
  startedAt: string;
  windowMs: number;
  /** When the window closes (later under `extend` when traffic is thin). */
  endsAt: string;
}

/** The last canary's verdict, for the status. */
export interface CanaryReport {
  generation: number;
  /** The statistics' verdict: thin when there were too few requests to judge. */
  outcome: CanaryVerdict['outcome'];
  /** What the rollout did with it. */
  decision: 'accepted' | 'refused';
  canary: CanaryCounts;
  baseline: CanaryCounts;
  pValue: number | undefined;
  windowMs: number;
  /** The verdict's message, with the decision. */
  message: string;
  at: string;
}

interface Window {
  id: number;
  answers: Map<WorkerHandle, { requests: number; errors: number }>;
  expected: Set<WorkerHandle>;
  done: () => void;
}

/** Opens and closes count windows on the workers, and keeps the progress and the last verdict. */
export class Canary {
  private sequence = 0;
  private readonly windows = new Map<number, Window>();
  progress: CanaryProgress | null = null;
  last: CanaryReport | null = null;

  constructor(private readonly metrics: SupervisorMetrics) {}

  /** A worker's `counted` message. */
  answered(window: number, handle: WorkerHandle, counts: { requests: number; errors: number }): void {
    const open = this.windows.get(window);
    if (!open?.expected.has(handle)) return;
    open.answers.set(handle, { requests: counts.requests, errors: counts.errors });
    if (open.answers.size === open.expected.size) open.done();
  }

  /** Asks `workers` to count from now on; returns the window id. */
  private open(workers: readonly WorkerHandle[]): Window {
    const window: Window = { id: ++this.sequence, answers: new Map(), expected: new Set(workers), done: () => {} };
    this.windows.set(window.id, window);
    for (const handle of workers) handle.send({ zdt: 'count-open', window: window.id });
    return window;
  }

  /** Closes the window and waits (bounded) for every worker's counts; a worker gone or silent counts nothing. */
  private close(window: Window): Promise<Map<WorkerHandle, { requests: number; errors: number }>> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.windows.delete(window.id);
        resolve(window.answers);
      };
      const timer = setTimeout(finish, COUNTS_TIMEOUT_MS);
      timer.unref();
      window.done = finish;
      for (const handle of window.expected) {
        if (handle.isAlive) handle.send({ zdt: 'count-close', window: window.id });
        else window.expected.delete(handle);
      }
      if (window.answers.size >= window.expected.size) finish();
    });
  }

  /**
   * Holds the rollout for the window and judges it. `workers()` gives the workers to count on when a window opens
   * (the slots' ready workers: the canary batch and the old generation). Resolves with a refusal reason, or
   * undefined when the rollout may go on.
   */
  async hold(
    canaries: readonly WorkerHandle[],
    workers: () => WorkerHandle[],
    generations: { canary: number; baseline: number },
    settings: CanarySettings,
    stopping: AbortSignal,
    on: { start(progress: CanaryProgress): void; verdict(report: CanaryReport): void },
  ): Promise<string | undefined> {
    const startedAt = Date.now();
    const canary: CanaryCounts = { generation: generations.canary, requests: 0, errors: 0 };
    const baseline: CanaryCounts = { generation: generations.baseline, requests: 0, errors: 0 };
    let windowMs = 0;
    let verdict: CanaryVerdict;
    try {
      for (;;) {
        const window = this.open(workers());
        this.progress = {
          generation: generations.canary,
          baselineGeneration: generations.baseline,
          startedAt: new Date(startedAt).toISOString(),
          windowMs: windowMs + settings.windowMs,
          endsAt: new Date(Date.now() + settings.windowMs).toISOString(),
        };
        if (windowMs === 0) on.start(this.progress);
        const interrupted = await waitWindow(settings.windowMs, canaries, stopping);
        const counts = await this.close(window);
        windowMs += settings.windowMs;
        for (const [handle, { requests, errors }] of counts) {
          const into = handle.generation === generations.canary ? canary : handle.generation === generations.baseline ? baseline : undefined;
          if (!into) continue;
          into.requests += requests;
          into.errors += errors;
        }
        if (interrupted) return interrupted;
        verdict = canaryVerdict(canary, baseline, { minRequests: settings.minRequests, alpha: CANARY_ALPHA, margin: CANARY_MARGIN });
        const extend = verdict.outcome === 'thin' && settings.thinTraffic === 'extend' && windowMs + settings.windowMs <= CANARY_EXTEND_LIMIT * settings.windowMs;
        if (!extend) break;
      }
    } finally {
      this.progress = null;
    }
    const refused = this.decide(verdict, settings, windowMs);
    on.verdict(this.last!);
    return refused;
  }

  private decide(verdict: CanaryVerdict, settings: CanarySettings, windowMs: number): string | undefined {
    const accepted = verdict.outcome === 'pass' || (verdict.outcome === 'thin' && settings.thinTraffic === 'pass');
    const thinNote =
      verdict.outcome !== 'thin'
        ? ''
        : settings.thinTraffic === 'extend'
          ? ` after ${windowMs}ms (the window was extended to its limit, ${CANARY_EXTEND_LIMIT} x ${settings.windowMs}ms)`
          : ` (thin traffic: ${settings.thinTraffic})`;
    const message = `${verdict.message}${thinNote}; ${accepted ? 'accepted' : 'refused'}`;
    for (const counts of [verdict.canary, verdict.baseline]) {
      const labels = { generation: counts.generation, role: counts === verdict.canary ? 'canary' : 'baseline' };
      this.metrics.canaryRequests.inc(labels, counts.requests);
      this.metrics.canaryErrors.inc(labels, counts.errors);
    }
    this.metrics.canaryVerdicts.inc({ outcome: verdict.outcome, decision: accepted ? 'accepted' : 'refused' });
    this.last = {
      generation: verdict.canary.generation,
      outcome: verdict.outcome,
      decision: accepted ? 'accepted' : 'refused',
      canary: verdict.canary,
      baseline: verdict.baseline,
      pValue: verdict.pValue,
      windowMs,
      message,
      at: new Date().toISOString(),
    };
    return accepted ? undefined : `${verdict.message}${thinNote}`;
  }
}

/**
 * Waits out the window; ends early with a reason when a canary worker exits (a canary that crashes is refused) or the
 * supervisor stops.
 */
function waitWindow(windowMs: number, canaries: readonly WorkerHandle[], stopping: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    const exits = canaries.map((handle) => {
      const onExit = (exit: WorkerExit) => finish(`canary worker ${handle.id} (pid ${handle.pid}) ${describeExit(exit)} during the canary window`);
      handle.once('exit', onExit);
      return () => handle.off('exit', onExit);
    });
    const onStop = () => finish('was interrupted because the supervisor is stopping');
    const finish = (reason: string | undefined) => {
      clearTimeout(timer);
      for (const off of exits) off();
      stopping.removeEventListener('abort', onStop);
      resolve(reason);
    };
    const timer = setTimeout(() => finish(undefined), windowMs);
    timer.unref();
    if (stopping.aborted) onStop();
    else stopping.addEventListener('abort', onStop, { once: true });
    const gone = canaries.find((handle) => !handle.isAlive);
    if (gone) finish(`canary worker ${gone.id} (pid ${gone.pid}) exited during the canary window`);
  });
}
