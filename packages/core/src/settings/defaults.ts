/**
 * The supervisor's defaults, one value each: resolveOptions() falls back to them, the settings table and --help
 * print them, and the worker side may read them (this file loads no primary code).
 */
import { availableParallelism } from 'node:os';
import type { Readiness } from './readiness.js';

export const DEFAULTS = {
  args: [] as readonly string[],
  env: {} as Readonly<Record<string, string>>,
  execArgv: [] as readonly string[],
  /** Resolved at call time so the value matches the machine running the supervisor. */
  workers: (): number => availableParallelism(),
  readiness: 'listening' as Readiness,
  readyTimeoutMs: 30_000,
  drainTimeoutMs: 30_000,
  cleanupTimeoutMs: 5_000,
  backoff: { initialMs: 100, maxMs: 30_000, multiplier: 2, jitter: 0.2 } as Readonly<{ initialMs: number; maxMs: number; multiplier: number; jitter: number }>,
  minUptimeMs: 1_000,
  rolloutBatchSize: 1,
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 5_000,
  maxMemoryMb: 0,
  silent: false,
  autoDrain: true,
  /** 0: no canary window. */
  canaryMs: 0,
  canaryMinRequests: 100,
  canaryThinTraffic: 'extend' as 'pass' | 'fail' | 'extend',
} as const;

/** `30s`, `5s`, `500ms`, `2m`: a default duration as the docs and --help write it. */
export function formatDuration(milliseconds: number): string {
  if (milliseconds % 60_000 === 0 && milliseconds > 0) return `${milliseconds / 60_000}m`;
  if (milliseconds % 1_000 === 0 && milliseconds > 0) return `${milliseconds / 1_000}s`;
  return `${milliseconds}ms`;
}
