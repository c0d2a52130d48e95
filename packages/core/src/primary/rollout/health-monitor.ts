/**
 * The health monitor: one timer, one pass over the slots. Workers that loaded the worker module answer pings; one
 * silent for longer than the heartbeat timeout is hung. Any worker's RSS (from /proc, or its last pong) is checked
 * against the memory limit. What to do about either is the supervisor's call.
 */
import { readFileSync } from 'node:fs';
import type { Slot } from './slot.js';
import type { WorkerHandle } from '../workers/handle.js';

/** RSS from /proc (works for any app); undefined where /proc is missing. */
export function readRssBytes(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface MonitorSettings {
  intervalMs: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  maxMemoryBytes: number;
}

export interface MonitorFindings {
  hung(slot: Slot, handle: WorkerHandle, silentForMs: number): void;
  overMemory(slot: Slot, handle: WorkerHandle, rssBytes: number): void;
}

export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: MonitorSettings,
    private readonly slots: readonly Slot[],
    private readonly handles: Iterable<WorkerHandle>,
    private readonly findings: MonitorFindings,
  ) {}

  start(): void {
    if (this.settings.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => this.check(), this.settings.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const { heartbeatIntervalMs, heartbeatTimeoutMs, maxMemoryBytes } = this.settings;
    const pings = heartbeatIntervalMs > 0;
    // Starting workers are pinged too, so their first pong after ready is not a full interval away.
    if (pings) for (const handle of this.handles) if (handle.speaksProtocol && handle.state === 'starting') handle.ping();
    for (const slot of this.slots) {
      const handle = slot.current;
      if (!handle || handle.state !== 'ready') continue;
      if (pings && handle.speaksProtocol) {
        const silentForMs = handle.silentForMs;
        if (silentForMs > heartbeatTimeoutMs) {
          this.findings.hung(slot, handle, silentForMs);
          continue;
        }
        handle.ping();
      }
      if (maxMemoryBytes > 0) {
        const rssBytes = readRssBytes(handle.pid) ?? handle.reportedRssBytes;
        if (rssBytes !== undefined && rssBytes > maxMemoryBytes) this.findings.overMemory(slot, handle, rssBytes);
      }
    }
  }
}
