// Fast state-machine tests through the declared `fork` seam: fake cluster workers that become ready or crash
// on the next tick. Everything that needs real processes is tested in the other files.
import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Worker as ClusterWorker } from 'node:cluster';
import { RolloutFailedError, Supervisor, type ForkSettings } from '../src/index.js';
import { WorkerHandle } from '../src/primary/worker-handle.js';
import { waitFor } from './helpers.js';

let nextPid = 100_000;

class FakeWorker extends EventEmitter {
  readonly sent: unknown[] = [];
  disconnected = false;
  private connected = true;
  private dead = false;
  readonly process: { pid: number; kill: (signal?: string) => boolean };

  constructor(readonly settings: ForkSettings, behaviour: 'ready' | 'crash' | 'hang') {
    super();
    this.process = { pid: nextPid++, kill: (signal = 'SIGTERM') => this.exit(null, signal) };
    setImmediate(() => {
      if (behaviour === 'ready') this.emit('listening', { address: '127.0.0.1', port: 4000 });
      else if (behaviour === 'crash') this.exit(1, null);
    });
  }

  isConnected(): boolean {
    return this.connected;
  }

  send(message: unknown): boolean {
    this.sent.push(message);
    return true;
  }

  disconnect(): void {
    this.disconnected = true;
    this.connected = false;
    setImmediate(() => this.exit(0, null));
  }

  exit(code: number | null, signal: string | null): boolean {
    if (this.dead) return false;
    this.dead = true;
    this.connected = false;
    setImmediate(() => this.emit('exit', code, signal));
    return true;
  }
}

function fakeCluster(initial: 'ready' | 'crash' | 'hang' = 'ready') {
  const forked: FakeWorker[] = [];
  const control = {
    behaviour: initial as 'ready' | 'crash' | 'hang',
    /** Behaviours for the next forks, in order, before falling back to `behaviour`. */
    script: [] as Array<'ready' | 'crash' | 'hang'>,
    forked,
    fork: (settings: ForkSettings) => {
      const worker = new FakeWorker(settings, control.script.shift() ?? control.behaviour);
      forked.push(worker);
      return worker as unknown as ClusterWorker;
    },
  };
  return control;
}

function supervisorWith(cluster: ReturnType<typeof fakeCluster>, options: Record<string, unknown> = {}) {
  return new Supervisor({
    // Resolved from this file so the suite runs from the repository root or the package folder alike.
    entry: fileURLToPath(new URL('./fixtures/app.cjs', import.meta.url)),
    workers: 2,
    logger: false,
    heartbeatIntervalMs: 0,
    readyTimeoutMs: 1_000,
    fork: cluster.fork,
    ...options,
  });
}

describe('WorkerHandle state machine', () => {
  it('moves only along allowed edges and announces each move', async () => {
    const cluster = fakeCluster('hang');
    const release = { generation: 0, cwd: '/srv/app', entryPath: '/srv/app/app.js' };
    const handle = new WorkerHandle(cluster.fork({} as ForkSettings), 1, release, 'listening');
    const moves: string[] = [];
    handle.on('state', ({ from, to }) => moves.push(`${from}->${to}`));
    handle.transition('ready');
    expect(() => handle.transition('starting')).toThrow(/illegal state move ready -> starting/);
    await handle.stop('stop', 1_000);
    expect(() => handle.transition('ready')).toThrow(/illegal state move exited -> ready/);
    expect(moves).toEqual(['starting->ready', 'ready->stopping', 'stopping->exited']);
    // The time limits reached the worker once, in its environment; the message only says why.
    expect(cluster.forked[0]!.sent).toEqual([{ zdt: 'shutdown', reason: 'stop' }]);
    expect(cluster.forked[0]!.disconnected).toBe(true);
  });
});

describe('Supervisor through the fork seam', () => {
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
