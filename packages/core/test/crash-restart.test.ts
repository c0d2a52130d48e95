import { describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { get, isAlive, pidOf, waitFor } from '@zero-downtime/testkit';
import { fakeCluster, supervisorWith } from './fork-seam.js';
import { fixture, startSupervisor, testContext } from './helpers.js';

const context = testContext();

describe('a crashed worker is restarted', () => {
  it('replaces a crashed worker; a long-lived worker restarts at once', async () => {
    const { supervisor, port } = await startSupervisor({ entry: fixture('app.cjs'), workers: 2, minUptimeMs: 200 });
    context.running = supervisor;
    const before = supervisor.status().workers;
    const crashes: Array<{ workerId: number; restartInMs: number; code: number | null }> = [];
    supervisor.on('crash', (crash) => crashes.push(crash));
    // A worker that lived past minUptimeMs is not crash-looping: it restarts with no delay.
    await waitFor(() => supervisor.status().workers.every((worker) => worker.uptimeMs > 200), 'workers older than minUptimeMs');
    const victim = before[0]!;
    process.kill(victim.pid, 'SIGKILL');
    await waitFor(() => {
      const replacement = supervisor.status().workers.find((worker) => worker.id === victim.id);
      return replacement && replacement.pid !== victim.pid && replacement.state === 'ready';
    }, 'the crashed worker to be replaced');
    expect(crashes).toHaveLength(1);
    expect(crashes[0]).toMatchObject({ workerId: victim.id, restartInMs: 0 });
    const after = supervisor.status().workers.find((worker) => worker.id === victim.id)!;
    expect(after.restarts).toBe(1);
    expect(isAlive(victim.pid)).toBe(false);
    // The service answers, from the new worker too (round robin spreads connections).
    const seen = new Set<number>();
    for (let attempt = 0; attempt < 40 && !seen.has(after.pid); attempt++) seen.add(pidOf(await get(port)));
    expect(seen.has(after.pid)).toBe(true);
  });

  it('backs off an app that crashes at boot (no fork storm), says CrashLoopBackOff, and recovers when fixed', async () => {
    const flag = path.join(os.tmpdir(), `zdt-crash-flag-${process.pid}-${Date.now()}`);
    const { supervisor, logger } = await startSupervisor({
      entry: fixture('app.cjs'),
      workers: 2,
      env: { FIXTURE_CRASH_FLAG: flag },
      backoff: { initialMs: 50, maxMs: 800, multiplier: 2, jitter: 0.2 },
    });
    context.running = supervisor;
    try {
      writeFileSync(flag, 'crash');
      const crashes: Array<{ workerId: number; restartInMs: number; quickCrashes: number }> = [];
      supervisor.on('crash', (crash) => crashes.push(crash));
      let forks = 0;
      supervisor.on('fork', () => forks++);
      for (const worker of supervisor.status().workers) process.kill(worker.pid, 'SIGKILL');

      // Count forks over a window in which a fork-per-exit loop would fork dozens of times per worker.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const forksInWindow = forks;
      // 50, 100, 200, 400, 800, 800... ms per slot: at most ~7 forks per worker in 3 s; a storm would be 30+.
      expect(forksInWindow).toBeLessThanOrEqual(16);
      expect(forksInWindow).toBeGreaterThanOrEqual(4);
      for (const workerId of [1, 2]) {
        const delays = crashes.filter((crash) => crash.workerId === workerId).map((crash) => crash.restartInMs);
        expect(delays.length).toBeGreaterThanOrEqual(3);
        // Each delay at least the previous one (doubling beats ±20% jitter) until the cap.
        for (let index = 1; index < delays.length; index++) {
          expect(delays[index]!).toBeGreaterThanOrEqual(Math.min(delays[index - 1]!, 800 * 0.8));
        }
        expect(Math.max(...delays)).toBeLessThanOrEqual(800);
      }
      const status = supervisor.status();
      expect(status.crashLoop.map((loop) => loop.workerId).sort()).toEqual([1, 2]);
      expect(status.crashLoop.every((loop) => loop.quickCrashes >= 2)).toBe(true);
      expect(logger.lines.some((line) => line.includes('CrashLoopBackOff'))).toBe(true);

      // Never gives up: once the app boots again, both slots come back.
      rmSync(flag);
      await waitFor(
        () => supervisor.status().workers.filter((worker) => worker.state === 'ready').length === 2,
        'both workers to recover',
      );
      expect(supervisor.state).toBe('running');
    } finally {
      rmSync(flag, { force: true });
    }
  });

  it('never gives up on a crash-looping worker and keeps the delay at the cap', async () => {
    const cluster = fakeCluster();
    const supervisor = supervisorWith(cluster, { workers: 1, backoff: { initialMs: 1, maxMs: 4, multiplier: 2, jitter: 0 } });
    await supervisor.start();
    cluster.behaviour = 'crash';
    const delays: number[] = [];
    supervisor.on('crash', ({ restartInMs }) => delays.push(restartInMs));
    cluster.forked[0]!.exit(1, null);
    await waitFor(() => delays.length >= 40, '40 crash restarts');
    expect(delays.slice(0, 4)).toEqual([1, 2, 4, 4]);
    expect(Math.max(...delays)).toBe(4);
    expect(supervisor.status().crashLoop[0]).toMatchObject({ workerId: 1 });
    expect(supervisor.status().crashLoop[0]!.quickCrashes).toBeGreaterThanOrEqual(40);
    cluster.behaviour = 'ready';
    await waitFor(() => supervisor.status().workers[0]?.state === 'ready', 'the worker to recover');
    await supervisor.stop();
  });
});
