import { describe, expect, it } from 'vitest';
import { RolloutFailedError } from '../src/index.js';
import { deployDirectory, fixture, get, isAlive, pidOf, testContext, startLoad, startSupervisor, waitFor } from './helpers.js';

const context = testContext();
const { tracker } = context;

function scratchApp(fixtureName: string) {
  const scratch = deployDirectory(fixtureName);
  context.cleanups.push(scratch.remove);
  return scratch;
}

async function reloadUnderLoad(entry: string, workers: number, keepAlive: boolean) {
  const { supervisor, port } = await startSupervisor({ entry, workers }, tracker);
  context.running = supervisor;
  const oldPids = supervisor.status().workers.map((worker) => worker.pid);
  const load = startLoad(port, { keepAlive });
  await waitFor(() => load.stats.ok >= 20, 'the clients to get answers');
  const result = await supervisor.reload();
  const newPids = supervisor.status().workers.map((worker) => worker.pid);
  // Keep the clients going a little on the new workers only.
  const okAtReload = load.stats.ok;
  await waitFor(() => load.stats.ok >= okAtReload + 20, 'answers after the reload');
  const stats = await load.stop();
  return { supervisor, port, oldPids, newPids, result, stats };
}

describe('reload (start-first rollout)', () => {
  for (const workers of [1, 2]) {
    // Capacity is the primary's promise: with a plain app no connection is ever refused. (A plain app's
    // server.close() can still reset a connection it had just accepted: the worker module's drain fixes that.)
    it(`replaces every pid of ${workers} worker(s) of a plain app with no refused connection`, async () => {
      const { oldPids, newPids, result, stats, supervisor } = await reloadUnderLoad(fixture('app.cjs'), workers, false);
      expect(stats.errors.filter((code) => code === 'ECONNREFUSED')).toEqual([]);
      expect(result.generation).toBe(1);
      expect(result.replaced.map((item) => item.oldPid).sort()).toEqual([...oldPids].sort());
      expect(newPids).toHaveLength(workers);
      expect(newPids.filter((pid) => oldPids.includes(pid))).toEqual([]);
      // reload() resolves only once every old worker is gone.
      expect(oldPids.filter(isAlive)).toEqual([]);
      expect(supervisor.status().workers.every((worker) => worker.generation === 1)).toBe(true);
      expect(supervisor.status().lastRollout).toMatchObject({ generation: 1, outcome: 'done' });
    });

    for (const keepAlive of [false, true]) {
      it(`replaces every pid of ${workers} worker(s) with no failed request (keep-alive ${keepAlive ? 'on' : 'off'}, worker-module drain)`, async () => {
        const { oldPids, newPids, stats } = await reloadUnderLoad(fixture('drain-app.cjs'), workers, keepAlive);
        expect(stats.errors).toEqual([]);
        expect(stats.failed).toBe(0);
        expect(newPids.filter((pid) => oldPids.includes(pid))).toEqual([]);
        expect(oldPids.filter(isAlive)).toEqual([]);
        expect([...stats.pids].some((pid) => newPids.includes(pid))).toBe(true);
      });
    }
  }

  it('forks the code now on disk', async () => {
    const scratch = scratchApp('app.cjs');
    const { supervisor, port } = await startSupervisor({ entry: scratch.entry, workers: 1, readiness: 'listening' }, tracker);
    context.running = supervisor;
    scratch.deploy('message-ready.cjs');
    await supervisor.reload();
    // message-ready.cjs answers without the "release" field that app.cjs sends.
    const body = JSON.parse((await get(port)).body) as { release?: string; generation: string };
    expect(body.release).toBeUndefined();
    expect(body.generation).toBe('1');
  });

  it('refuses a release that throws at boot: RolloutFailedError, event, log, and the old workers keep answering', async () => {
    const scratch = scratchApp('app.cjs');
    const { supervisor, port, logger } = await startSupervisor({ entry: scratch.entry, workers: 2 }, tracker);
    context.running = supervisor;
    const oldPids = supervisor.status().workers.map((worker) => worker.pid);
    const failedEvents: RolloutFailedError[] = [];
    supervisor.on('rollout:failed', ({ error }) => failedEvents.push(error));
    const load = startLoad(port, { keepAlive: false });
    await waitFor(() => load.stats.ok >= 20, 'the clients to get answers');

    scratch.deploy('broken-release.cjs');
    const error = await supervisor.reload().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    const okAtFailure = load.stats.ok;
    await waitFor(() => load.stats.ok >= okAtFailure + 20, 'answers after the failed reload');
    const stats = await load.stop();

    expect(error).toBeInstanceOf(RolloutFailedError);
    const failure = error as RolloutFailedError;
    expect(failure.code).toBe('ERR_ZDT_ROLLOUT_FAILED');
    expect(failure.workerId).toBe(1);
    // The cause, from the worker itself, not only an exit code.
    expect(failure.reason).toMatch(/failed before it was ready: uncaught exception: Error: broken release: missing configuration/);
    expect(failure.message).toMatch(/nothing was replaced: generation 0 serves on all 2 workers/);
    expect(failedEvents).toEqual([failure]);
    expect(logger.lines.some((line) => line.startsWith('error') && line.includes('worker 1') && line.includes('broken release: missing configuration'))).toBe(true);
    expect(failure.pid).toBeDefined();
    expect(isAlive(failure.pid!)).toBe(false);

    expect(stats.failed).toBe(0);
    expect(oldPids.every(isAlive)).toBe(true);
    expect([...stats.pids].sort()).toEqual([...oldPids].sort());
    const status = supervisor.status();
    expect(status.workers.map((worker) => worker.pid).sort()).toEqual([...oldPids].sort());
    expect(status.lastRollout).toMatchObject({ generation: 1, outcome: 'failed' });
    expect(status.lastRollout?.reason).toMatch(/worker 1/);
  });

  it('refuses a release that is not ready within readyTimeoutMs and kills it', async () => {
    const scratch = scratchApp('message-ready.cjs');
    const { supervisor, port } = await startSupervisor(
      { entry: scratch.entry, workers: 1, readiness: 'message', readyTimeoutMs: 1_500 },
      tracker,
    );
    context.running = supervisor;
    const oldPid = supervisor.status().workers[0]!.pid;
    scratch.deploy('never-ready.cjs');
    const error = (await supervisor.reload().catch((caught: unknown) => caught)) as RolloutFailedError;
    expect(error).toBeInstanceOf(RolloutFailedError);
    expect(error.reason).toMatch(/not ready within 1500ms/);
    expect(isAlive(error.pid!)).toBe(false);
    expect(pidOf(await get(port))).toBe(oldPid);
  });

  it('runs at most one more rollout for any number of reloads requested during one', async () => {
    const { supervisor } = await startSupervisor({ entry: fixture('app.cjs'), workers: 1 }, tracker);
    context.running = supervisor;
    let rollouts = 0;
    supervisor.on('rollout:start', () => rollouts++);
    const requests = Array.from({ length: 10 }, () => supervisor.reload());
    const results = await Promise.all(requests);
    expect(rollouts).toBe(2);
    expect(results[0]!.generation).toBe(1);
    // Every later request joined the one queued rollout.
    expect(new Set(results.slice(1).map((result) => result.generation))).toEqual(new Set([2]));
    expect(supervisor.status().workers.map((worker) => worker.generation)).toEqual([2]);
  });
});
