/** The status projection of the supervisor's workers and slots: what `zdt status` and `status()` show of them. */
import { readCpuSeconds } from './metrics/supervisor-metrics.js';
import { readRssBytes } from './rollout/health-monitor.js';
import type { Slot } from './rollout/slot.js';
import type { CrashLoopStatus, WorkerStatus } from './supervisor-types.js';
import type { WorkerHandle } from './workers/handle.js';

/** Every live worker process, by slot id then age. */
export function workerStatuses(handles: Iterable<WorkerHandle>, slots: readonly Slot[], now: number): WorkerStatus[] {
  return [...handles]
    .sort((a, b) => a.id - b.id || a.forkedAt - b.forkedAt)
    .map((handle) => ({
      id: handle.id,
      pid: handle.pid,
      generation: handle.generation,
      state: handle.state,
      uptimeMs: handle.uptimeMs,
      restarts: slots[handle.id - 1]?.restarts ?? 0,
      rssBytes: readRssBytes(handle.pid) ?? handle.reportedRssBytes,
      cpuSeconds: readCpuSeconds(handle.pid),
      loopDelayMs: handle.loopDelayMs,
      heartbeatAgeMs: handle.speaksProtocol && handle.state !== 'starting' ? now - handle.lastHeardAt : undefined,
      overwritten: handle.overwritten,
    }));
}

/** A slot has recovered once its worker is ready and has run `minUptimeMs`. */
function hasRecovered(slot: Slot, minUptimeMs: number): boolean {
  const current = slot.current;
  return current !== undefined && current.state === 'ready' && current.uptimeMs >= minUptimeMs;
}

/** Slots with quick crashes that have not recovered yet. */
export function crashLoops(slots: readonly Slot[], minUptimeMs: number, now: number): CrashLoopStatus[] {
  return slots
    .filter((slot) => slot.quickCrashes > 0 && !hasRecovered(slot, minUptimeMs))
    .map((slot) => ({
      workerId: slot.id,
      quickCrashes: slot.quickCrashes,
      nextRestartInMs: slot.nextRestartAt === undefined ? undefined : Math.max(0, slot.nextRestartAt - now),
      lastExit: slot.lastExit,
    }));
}
