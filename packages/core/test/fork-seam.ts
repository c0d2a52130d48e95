/**
 * The declared `fork` seam: fake cluster workers that become ready, crash or hang on the next tick, for fast tests of
 * the supervisor's state machine. Everything that needs real processes uses real ones.
 */
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Worker as ClusterWorker } from 'node:cluster';
import { Supervisor, type ForkSettings } from '../src/index.js';

let nextPid = 100_000;

export class FakeWorker extends EventEmitter {
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

export function fakeCluster(initial: 'ready' | 'crash' | 'hang' = 'ready') {
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

export function supervisorWith(cluster: ReturnType<typeof fakeCluster>, options: Record<string, unknown> = {}) {
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
