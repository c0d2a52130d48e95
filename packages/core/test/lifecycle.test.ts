import { describe, expect, it } from 'vitest';
import { get, isAlive, track } from '@zero-downtime/testkit';
import { InvalidStateError, StartFailedError, Supervisor } from '../src/index.js';
import { fakeCluster, supervisorWith } from './fork-seam.js';
import { fixture, memoryLogger, startSupervisor, testContext } from './helpers.js';

const context = testContext();

describe('Supervisor lifecycle', () => {
  it('starts N workers, reports them in status(), and stops them all gracefully', async () => {
    const { supervisor, port } = await startSupervisor({ entry: fixture('app.cjs'), workers: 2 });
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
      track(pid);
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

  it('refuses reload before start and after stop with InvalidStateError', async () => {
    const supervisor = new Supervisor({ entry: fixture('app.cjs'), logger: false });
    await expect(supervisor.reload()).rejects.toBeInstanceOf(InvalidStateError);
    await supervisor.stop();
    expect(supervisor.state).toBe('stopped');
    await expect(supervisor.reload()).rejects.toMatchObject({ code: 'ERR_ZDT_INVALID_STATE' });
    await expect(supervisor.start()).rejects.toBeInstanceOf(InvalidStateError);
  });

  it('sets the worker environment and forks the resolved entry each time', async () => {
    const cluster = fakeCluster();
    const supervisor = supervisorWith(cluster, { env: { EXTRA: 'yes' }, args: ['--flag'] });
    await supervisor.start();
    expect(cluster.forked.map((worker) => worker.settings.env.ZDT_WORKER_ID)).toEqual(['1', '2']);
    expect(cluster.forked[0]!.settings).toMatchObject({
      exec: supervisor.options.entryPath,
      args: ['--flag'],
      env: { EXTRA: 'yes', ZDT_SUPERVISED: '1', ZDT_GENERATION: '0', ZDT_READINESS: 'listening', ZDT_DRAIN_TIMEOUT_MS: '30000', ZDT_CLEANUP_TIMEOUT_MS: '5000', ZDT_HEARTBEAT_INTERVAL_MS: '0' },
    });
    await supervisor.reload();
    expect(cluster.forked.slice(2).map((worker) => worker.settings.env.ZDT_GENERATION)).toEqual(['1', '1']);
    await supervisor.stop();
  });
});
