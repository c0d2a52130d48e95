import { describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvalidStateError, StartFailedError, Supervisor } from '../src/index.js';
import { testContext, fixture, get, isAlive, memoryLogger, pidOf, startSupervisor, waitFor } from './helpers.js';

const context = testContext();
const { tracker } = context;

describe('Supervisor lifecycle', () => {
  it('starts N workers, reports them in status(), and stops them all gracefully', async () => {
    const { supervisor, port } = await startSupervisor({ entry: fixture('app.cjs'), workers: 2 }, tracker);
    context.running = supervisor;
    const status = supervisor.status();
    expect(status.state).toBe('running');
    expect(status.workers).toHaveLength(2);
    expect(status.workers.map((worker) => worker.id)).toEqual([1, 2]);
    for (const worker of status.workers) {
      expect(worker.state).toBe('ready');
      expect(worker.generation).toBe(0);
      expect(worker.restarts).toBe(0);
      expect(worker.rssBytes).toBeGreaterThan(0);
    }
    expect(status.lastRollout).toBeNull();
    expect((await get(port)).status).toBe(200);

    const pids = status.workers.map((worker) => worker.pid);
    const exits: Array<{ pid: number; code: number | null; expected: boolean }> = [];
    supervisor.on('exit', ({ pid, code, expected }) => exits.push({ pid, code, expected }));
    await supervisor.stop();
    expect(supervisor.state).toBe('stopped');
    expect(pids.filter(isAlive)).toEqual([]);
    expect(exits.map((exit) => exit.pid).sort()).toEqual([...pids].sort());
    expect(exits.every((exit) => exit.expected && exit.code === 0)).toBe(true);
    await expect(supervisor.reload()).rejects.toBeInstanceOf(InvalidStateError);
  });

  it('rejects start() with StartFailedError and leaves nothing running when workers cannot boot', async () => {
    const logger = memoryLogger();
    const supervisor = new Supervisor({ entry: fixture('broken-release.cjs'), workers: 2, logger, readyTimeoutMs: 10_000 });
    context.running = supervisor;
    const forked: number[] = [];
    supervisor.on('fork', ({ pid }) => {
      forked.push(pid);
      tracker.track(pid);
    });
    const error = await supervisor.start().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StartFailedError);
    expect((error as StartFailedError).code).toBe('ERR_ZDT_START_FAILED');
    expect((error as StartFailedError).message).toMatch(/failed before it was ready: uncaught exception: Error: broken release: missing configuration/);
    expect(supervisor.state).toBe('stopped');
    expect(forked).toHaveLength(2);
    expect(forked.filter(isAlive)).toEqual([]);
  });

  it('replaces a crashed worker; a long-lived worker restarts at once', async () => {
    const { supervisor, port } = await startSupervisor({ entry: fixture('app.cjs'), workers: 2, minUptimeMs: 200 }, tracker);
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
    const { supervisor, logger } = await startSupervisor(
      {
        entry: fixture('app.cjs'),
        workers: 2,
        env: { FIXTURE_CRASH_FLAG: flag },
        backoff: { initialMs: 50, maxMs: 800, multiplier: 2, jitter: 0.2 },
      },
      tracker,
    );
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
});
