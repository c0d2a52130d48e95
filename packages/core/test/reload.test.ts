/**
 * What a reload does, rollouts aside: it forks the code on disk now, any number of reloads requested during a rollout
 * run at most one more, and those still queued when the supervisor stops are refused. (Rollouts under load, zero
 * failed requests: test/rolling-restart.e2e.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { get } from '@zero-downtime/testkit';
import { RolloutFailedError } from '../src/index.js';
import { fakeCluster, supervisorWith } from './fork-seam.js';
import { fixture, releaseEntry, startSupervisor, testContext } from './helpers.js';

const context = testContext();

describe('reload()', () => {
  it('forks the code now on disk', async () => {
    const scratch = releaseEntry('app.cjs', context.scratchDirectory());
    const { supervisor, port } = await startSupervisor({ entry: scratch.entry, workers: 1, readiness: 'listening' });
    context.running = supervisor;
    scratch.deploy('message-ready.cjs');
    await supervisor.reload();
    // message-ready.cjs answers without the "release" field that app.cjs sends.
    const body = JSON.parse((await get(port)).body) as { release?: string; generation: string };
    expect(body.release).toBeUndefined();
    expect(body.generation).toBe('1');
  });

  it('runs at most one more rollout for any number of reloads requested during one', async () => {
    const { supervisor } = await startSupervisor({ entry: fixture('app.cjs'), workers: 1 });
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

  it('rejects reloads queued behind a rollout when the supervisor stops', async () => {
    const cluster = fakeCluster();
    const supervisor = supervisorWith(cluster, { workers: 1 });
    await supervisor.start();
    cluster.behaviour = 'hang';
    const first = supervisor.reload().catch((caught: unknown) => caught);
    const queued = supervisor.reload().catch((caught: unknown) => caught);
    await supervisor.stop();
    expect(await first).toBeInstanceOf(RolloutFailedError);
    expect(await queued).toMatchObject({ code: 'ERR_ZDT_INVALID_STATE' });
  });
});
