/** One `zdt reload` as the rolling-restart tests check it. */
import { expect } from 'vitest';
import { isAlive, zdt } from '@zero-downtime/testkit';

interface Status {
  workers: Array<{ pid: number; state: string; generation: number }>;
}

/** The middle value (the upper one of an even count): how the rollout tests summarize their rollout times. */
export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/** The supervisor's workers, from `zdt status --json`. */
export async function workersOf(control: string): Promise<Status['workers']> {
  return (JSON.parse((await zdt(['status', '--json', '--control', control])).stdout) as Status).workers;
}

/**
 * Runs rollout number `rollout` (`zdt reload`), asserts it succeeded, that all `workers` now serve that generation,
 * ready, none of them an old one, and that every old worker is gone; returns the rollout time zdt printed, in ms.
 */
export async function reloadAndCheck(control: string, rollout: number, workers = 2): Promise<number> {
  const before = await workersOf(control);
  const reload = await zdt(['reload', '--control', control]);
  expect(reload.code, reload.stderr).toBe(0);
  const after = await workersOf(control);
  expect(after.map((worker) => [worker.generation, worker.state])).toEqual(Array.from({ length: workers }, () => [rollout, 'ready']));
  expect(after.filter((worker) => before.some((old) => old.pid === worker.pid))).toEqual([]);
  expect(before.filter((worker) => isAlive(worker.pid))).toEqual([]);
  return Number(/replaced in (\d+)ms/.exec(reload.stdout)![1]);
}
