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
    const handle = new WorkerHandle(cluster.fork({} as ForkSettings), 1, 0, 'listening');
    const moves: string[] = [];
    handle.on('state', ({ from, to }) => moves.push(`${from}->${to}`));
    handle.transition('ready');
    expect(() => handle.transition('starting')).toThrow(/illegal state move ready -> starting/);
    await handle.stop('stop', 1_000);
    expect(() => handle.transition('ready')).toThrow(/illegal state move exited -> ready/);
    expect(moves).toEqual(['starting->ready', 'ready->stopping', 'stopping->exited']);
    expect(cluster.forked[0]!.sent).toEqual([{ zdt: 'shutdown', reason: 'stop', drainTimeoutMs: 1_000 }]);
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
      env: { EXTRA: 'yes', ZDT_SUPERVISED: '1', ZDT_GENERATION: '0', ZDT_READINESS: 'listening', ZDT_DRAIN_TIMEOUT_MS: '30000', ZDT_HEARTBEAT_INTERVAL_MS: '0' },
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

  it('drains (not kills) a ready candidate when another in its batch fails, and keeps the old workers', async () => {
    const cluster = fakeCluster();
    const supervisor = supervisorWith(cluster, { rolloutBatchSize: 2 });
    await supervisor.start();
    const [oldOne, oldTwo] = cluster.forked;
    cluster.script.push('ready', 'crash');
    const error = await supervisor.reload().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RolloutFailedError);
    expect((error as RolloutFailedError).workerId).toBe(2);
    const readyCandidate = cluster.forked[2]!;
    expect(readyCandidate.sent).toContainEqual({ zdt: 'shutdown', reason: 'reload', drainTimeoutMs: 30_000 });
    expect(readyCandidate.disconnected).toBe(true);
    expect(oldOne!.disconnected || oldTwo!.disconnected).toBe(false);
    const serving = supervisor.status().workers.filter((worker) => worker.state === 'ready');
    expect(serving.map((worker) => worker.pid)).toEqual([oldOne!.process.pid, oldTwo!.process.pid]);
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
