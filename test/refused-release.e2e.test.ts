/**
 * A refused release leaves nothing behind. Releases live in their own directories behind a `current` symlink, the
 * way deploys usually lay them out; a release that fails on one of its workers is deployed under keep-alive load.
 * What must hold: `zdt reload` exits non-zero, every worker runs the previous generation afterwards, not one
 * request fails through the rollout and the rollback, and what `zdt reload` printed matches `zdt status`.
 */
import path from 'node:path';
import { get, isAlive, killTracked, startLoad, zdt, zdtStart } from '@zero-downtime/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { deployDirectory, type DeployDirectory } from './lib/releases.js';

let deploys: DeployDirectory[] = [];
afterEach(() => {
  killTracked();
  for (const deploy of deploys.splice(0)) deploy.remove();
});

interface Status {
  generation: number;
  servingGeneration: number;
  mixedGenerations: boolean;
  serving: Array<{ workerId: number; generation: number | undefined }>;
  workers: Array<{ id: number; pid: number; generation: number; state: string }>;
  lastRollout: { generation: number; outcome: string; durationMs: number; rollback?: { rolledBack: number; complete: boolean; toGeneration: number } } | null;
}

async function releaseAnswering(port: number): Promise<string> {
  return (JSON.parse((await get(port)).body) as { release: string }).release;
}

async function status(control: string): Promise<Status> {
  const result = await zdt(['status', '--json', '--control', control]);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Status;
}

async function startRelease(workers: number) {
  const deploy = deployDirectory();
  deploys.push(deploy);
  deploy.deploy('v1');
  const control = path.join(deploy.root, 'control.sock');
  // $PWD is how a shell started in `current` passes the logical directory on.
  const running = zdtStart(['app.cjs', '--workers', String(workers), '--control', control, '--drain-timeout', '10s'], {
    cwd: deploy.current,
    env: { PWD: deploy.current },
  });
  await running.waitForLine(/supervisor pid \d+ running/);
  return { deploy, control, running, port: running.port() };
}

describe('a refused release is rolled back', () => {
  for (const { workers, brokenOn } of [
    { workers: 2, brokenOn: 2 },
    { workers: 4, brokenOn: 4 },
  ]) {
    it(`fails on worker ${brokenOn} of ${workers}: rolls back the ${brokenOn - 1} already replaced, zero failed requests`, async () => {
      const { deploy, control, running, port } = await startRelease(workers);
      const before = await status(control);
      const load = startLoad({ port, clients: 8, durationMs: 100_000 });
      await load.waitForRequests(20);

      deploy.deploy('v2', { brokenOnWorkers: [brokenOn] });
      const reload = await zdt(['reload', '--control', control]);
      await load.waitForRequests(20);
      const summary = await load.stop();

      expect(reload.code).toBe(1);
      const replaced = brokenOn - 1;
      expect(reload.stderr).toMatch(new RegExp(`ERR_ZDT_ROLLOUT_FAILED: Rollout of generation 1 failed: worker ${brokenOn} \\(pid \\d+\\) failed before it was ready: uncaught exception: Error: release v2 cannot start worker ${brokenOn}`));
      expect(reload.stderr).toMatch(new RegExp(`rolled back ${replaced} workers? to generation 0: generation 0 serves on all ${workers} workers`));
      // The progress lines name each rollback step.
      expect(reload.stdout.match(/rolled back to generation 0/g)).toHaveLength(replaced);

      const after = await status(control);
      expect(after.serving).toEqual(Array.from({ length: workers }, (_, index) => ({ workerId: index + 1, generation: 0 })));
      expect(after.mixedGenerations).toBe(false);
      expect(after.workers.map((worker) => [worker.generation, worker.state])).toEqual(Array.from({ length: workers }, () => [0, 'ready']));
      expect(after.lastRollout).toMatchObject({ generation: 1, outcome: 'failed', rollback: { toGeneration: 0, rolledBack: replaced, complete: true } });
      // Rolled-back slots run new processes of the old release; the failing slot kept its original worker.
      const oldPids = before.workers.map((worker) => worker.pid);
      const newPids = after.workers.map((worker) => worker.pid);
      expect(newPids.filter((pid) => !oldPids.includes(pid))).toHaveLength(replaced);
      expect(oldPids.filter((pid) => !newPids.includes(pid)).every((pid) => !isAlive(pid))).toBe(true);
      for (let request = 0; request < 4 * workers; request++) expect(await releaseAnswering(port)).toBe('v1');

      expect(summary.failures).toEqual({});
      expect(summary.failed).toBe(0);
      console.log(`rollback e2e (${workers} workers, fails on ${brokenOn}): ${summary.sent} requests, ${summary.failed} failed; rollout + rollback took ${after.lastRollout?.durationMs} ms`);

      const stop = await zdt(['stop', '--control', control]);
      expect(stop.code).toBe(0);
      expect(await running.exited).toEqual({ code: 0, signal: null });
    });
  }

  it('after a refused release, a crashed worker restarts with the previous release, not the refused one', async () => {
    const { deploy, control, running, port } = await startRelease(2);
    deploy.deploy('v2', { brokenOnWorkers: [1, 2] });
    const reload = await zdt(['reload', '--control', control]);
    expect(reload.code).toBe(1);
    expect(reload.stderr).toMatch(/nothing was replaced: generation 0 serves on all 2 workers/);

    // The worker answering /exit is the one that crashes (a fresh connection per request: it may be either worker).
    expect((await get(port, '/exit')).status).toBe(200);
    const crashLine = await running.waitForLine(/\(pid \d+\) exited with code 3 after \d+ms; restarting generation 0 in/);
    const crashedPid = Number(/\(pid (\d+)\)/.exec(crashLine)![1]);
    await running.waitForLine(/ready, generation 0/);
    let after = await status(control);
    for (let attempt = 0; attempt < 200 && after.workers.filter((worker) => worker.state === 'ready').length < 2; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await status(control);
    }
    expect(after.workers.map((worker) => [worker.generation, worker.state])).toEqual([
      [0, 'ready'],
      [0, 'ready'],
    ]);
    expect(after.workers.map((worker) => worker.pid)).not.toContain(crashedPid);
    for (let request = 0; request < 10; request++) expect(await releaseAnswering(port)).toBe('v1');

    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });
});
