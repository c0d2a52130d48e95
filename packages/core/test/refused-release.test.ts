/**
 * A release that cannot serve is refused: the reload fails with RolloutFailedError naming the worker and the cause,
 * what it had replaced is rolled back, the old workers keep answering, and later restarts fork the last good release.
 * (Through zdt with releases behind a symlink, end to end: test/refused-release.e2e.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { get, isAlive, pidOf, startLoad, waitFor } from '@zero-downtime/testkit';
import { RolloutFailedError } from '../src/index.js';
import { fakeCluster, supervisorWith } from './fork-seam.js';
import { releaseEntry, startSupervisor, testContext } from './helpers.js';

const context = testContext();

const scratchApp = (fixtureName: string) => releaseEntry(fixtureName, context.scratchDirectory());

describe('a refused release', () => {
  it('refuses a release that throws at boot: RolloutFailedError, event, log, and the old workers keep answering', async () => {
    const scratch = scratchApp('app.cjs');
    const { supervisor, port, logger } = await startSupervisor({ entry: scratch.entry, workers: 2 });
    context.running = supervisor;
    const oldPids = supervisor.status().workers.map((worker) => worker.pid);
    const failedEvents: RolloutFailedError[] = [];
    supervisor.on('rollout:failed', ({ error }) => failedEvents.push(error));
    const load = startLoad({ port, clients: 4, keepAlive: false });
    await load.waitForRequests(20);

    scratch.deploy('broken-release.cjs');
    const error = await supervisor.reload().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    // The clients keep going a little on the old workers only.
    await load.waitForRequests(20);
    const summary = await load.stop();

    expect(error).toBeInstanceOf(RolloutFailedError);
    const failure = error as RolloutFailedError;
    expect(failure.code).toBe('ERR_ZDT_ROLLOUT_FAILED');
    expect(failure.workerId).toBe(1);
    // The cause, from the worker itself, not only an exit code.
    expect(failure.reason).toMatch(/failed before it was ready: uncaught exception: Error: broken release: missing configuration/);
    // Deployed in place (the entry overwritten): generation 0 still runs on both, but a restart would fork the refused file.
    expect(failure.message).toMatch(/nothing was replaced: the 2 worker\(s\) of generation 0 still run its code, forked before the overwrite/);
    expect(failedEvents).toEqual([failure]);
    expect(logger.lines.some((line) => line.startsWith('error') && line.includes('worker 1') && line.includes('broken release: missing configuration'))).toBe(true);
    expect(failure.pid).toBeDefined();
    expect(isAlive(failure.pid!)).toBe(false);

    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(oldPids.every(isAlive)).toBe(true);
    expect([...summary.pids].sort()).toEqual([...oldPids].sort());
    const status = supervisor.status();
    expect(status.workers.map((worker) => worker.pid).sort()).toEqual([...oldPids].sort());
    expect(status.lastRollout).toMatchObject({ generation: 1, outcome: 'failed' });
    expect(status.lastRollout?.reason).toMatch(/worker 1/);
  });

  it('refuses a release that is not ready within readyTimeoutMs and kills it', async () => {
    const scratch = scratchApp('message-ready.cjs');
    const { supervisor, port } = await startSupervisor({ entry: scratch.entry, workers: 1, readiness: 'message', readyTimeoutMs: 1_500 });
    context.running = supervisor;
    const oldPid = supervisor.status().workers[0]!.pid;
    scratch.deploy('never-ready.cjs');
    const error = (await supervisor.reload().catch((caught: unknown) => caught)) as RolloutFailedError;
    expect(error).toBeInstanceOf(RolloutFailedError);
    expect(error.reason).toMatch(/not ready within 1500ms/);
    expect(isAlive(error.pid!)).toBe(false);
    expect(pidOf(await get(port))).toBe(oldPid);
  });

  it('with a batch of 2, rolls back the candidate that was ready when the other failed', async () => {
    const cluster = fakeCluster();
    const supervisor = supervisorWith(cluster, { rolloutBatchSize: 2 });
    await supervisor.start();
    const [oldOne, oldTwo] = cluster.forked;
    cluster.script.push('ready', 'crash');
    const error = await supervisor.reload().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RolloutFailedError);
    const failure = error as RolloutFailedError;
    expect(failure.workerId).toBe(2);
    expect(failure.rollback).toMatchObject({ toGeneration: 0, rolledBack: 1, remaining: 0, complete: true });
    expect(failure.message).toMatch(/rolled back 1 worker to generation 0: generation 0 serves on all 2 workers/);
    // The refused candidate that became ready may hold routed connections: it was drained, not killed.
    const readyCandidate = cluster.forked[2]!;
    expect(readyCandidate.sent).toContainEqual({ zdt: 'shutdown', reason: 'reload' });
    expect(readyCandidate.disconnected).toBe(true);
    expect(oldTwo!.disconnected).toBe(false);
    expect(oldOne!.disconnected).toBe(true);
    const status = supervisor.status();
    expect(status.serving).toEqual([{ workerId: 1, generation: 0 }, { workerId: 2, generation: 0 }]);
    expect(status.mixedGenerations).toBe(false);
    await supervisor.stop();
  });

  it('after a refused release, a crash restart forks the last good release, labelled with its generation', async () => {
    const cluster = fakeCluster();
    const supervisor = supervisorWith(cluster, { workers: 1 });
    await supervisor.start();
    cluster.script.push('crash');
    await supervisor.reload().catch(() => undefined);
    expect(supervisor.status().generation).toBe(1);
    const forks = cluster.forked.length;
    cluster.forked[0]!.exit(1, null);
    await waitFor(
      () => cluster.forked.length > forks && supervisor.status().workers.some((worker) => worker.state === 'ready' && worker.pid === cluster.forked[forks]!.process.pid),
      'the restart',
    );
    const restarted = cluster.forked[forks]!;
    expect(restarted.settings.env.ZDT_GENERATION).toBe('0');
    expect(restarted.settings.exec).toBe(cluster.forked[0]!.settings.exec);
    expect(supervisor.status().serving).toEqual([{ workerId: 1, generation: 0 }]);
    await supervisor.stop();
  });

  it('a rollback that cannot finish keeps what serves, says mixed generations, and retries until it can', async () => {
    const cluster = fakeCluster();
    const supervisor = supervisorWith(cluster, { backoff: { initialMs: 20, maxMs: 50, multiplier: 2, jitter: 0 } });
    await supervisor.start();
    // Worker 1 takes generation 1, worker 2's candidate crashes, the rollback candidate of worker 1 crashes too.
    cluster.script.push('ready', 'crash', 'crash');
    const error = (await supervisor.reload().catch((caught: unknown) => caught)) as RolloutFailedError;
    expect(error).toBeInstanceOf(RolloutFailedError);
    expect(error.rollback).toMatchObject({ rolledBack: 0, remaining: 1, complete: false });
    expect(error.message).toMatch(/mixed generations: worker 1 runs generation 1, worker 2 runs generation 0; retrying the rollback/);
    expect(supervisor.status()).toMatchObject({ mixedGenerations: true, servingGeneration: 0 });
    // The next rollback attempt boots: every worker serves generation 0 again.
    await waitFor(() => !supervisor.status().mixedGenerations && supervisor.status().serving.every((worker) => worker.generation === 0), 'the retried rollback');
    expect(supervisor.status().lastRollout?.rollback).toMatchObject({ complete: true, rolledBack: 1 });
    await supervisor.stop();
  });
});
