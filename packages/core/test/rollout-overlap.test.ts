/**
 * A rollout does not wait for an old worker's drain before it forks the next replacement: each step is start-first
 * (the replacement ready, then the old worker retired), and the retired worker drains while the rollout goes on.
 * The rollout ends once every old worker has exited.
 */
import type { Worker as ClusterWorker } from 'node:cluster';
import { describe, expect, it } from 'vitest';
import { fakeCluster, supervisorWith, type FakeWorker } from './fork-seam.js';

describe('rollout pacing', () => {
  it('forks the next replacement while the previous old worker is still draining; reload() resolves once every old worker is gone', async () => {
    const cluster = fakeCluster();
    // Old workers hold their drain (a plain app is retired with disconnect()) until the test lets them go.
    const held: Array<() => void> = [];
    let holding = true;
    const fork = cluster.fork;
    cluster.fork = (settings) => {
      const worker = fork(settings) as unknown as FakeWorker;
      const disconnect = worker.disconnect.bind(worker);
      worker.disconnect = () => (holding ? void held.push(disconnect) : disconnect());
      return worker as unknown as ClusterWorker;
    };
    const supervisor = supervisorWith(cluster, { workers: 3, drainTimeoutMs: 60_000 });
    await supervisor.start();
    const events: string[] = [];
    supervisor.on('fork', ({ workerId, generation }) => events.push(`fork ${workerId} g${generation}`));
    supervisor.on('exit', ({ workerId, generation }) => events.push(`exit ${workerId} g${generation}`));
    let finished = false;
    const reload = supervisor.reload().then((result) => {
      finished = true;
      return result;
    });
    // Every replacement is forked and every old worker retired while none of them has finished draining.
    for (let attempt = 0; attempt < 200 && held.length < 3; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(events).toEqual(['fork 1 g1', 'fork 2 g1', 'fork 3 g1']);
    expect(held).toHaveLength(3);
    expect(finished).toBe(false);
    holding = false;
    for (const release of held.splice(0)) release();
    const result = await reload;
    expect(result.replaced).toHaveLength(3);
    expect(events.filter((event) => event.startsWith('exit')).sort()).toEqual(['exit 1 g0', 'exit 2 g0', 'exit 3 g0']);
    await supervisor.stop();
  });
});
