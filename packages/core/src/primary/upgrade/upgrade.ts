/**
 * `zdt upgrade`: a new supervisor (a new zdt, or the same on another Node.js) takes over from the running one
 * without a refused connection, the way nginx, HAProxy (`-x`), Einhorn and tableflip hand their listening sockets
 * to a new master.
 *
 * The old supervisor starts `zdt start` again, with the same arguments, working directory and environment, as a
 * detached process that inherits every listening socket (and the metrics socket) as a descriptor from fd 4 on, and
 * an IPC channel at fd 3. The new one opens the sockets, starts its workers (they accept on the same sockets as the
 * old workers: both generations serve) and listens on its control socket at a temporary name; then it says
 * `ready`. Only then does the old one answer `commit`: the new one renames its control socket over the control
 * path, writes the PID file and says `committed`; the old one drains its workers and exits. If the new one fails
 * before `ready` (exits, reports an error, or is not ready in time), the old one stops it and keeps serving.
 *
 * This file holds both ends of that exchange and the environment that carries the sockets across.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { ListenError, UpgradeFailedError, ZdtError } from '../../errors.js';
import type { AppMetric } from '../../protocol.js';
import type { ListenDescriptor, ListenerInfo } from '../sockets/listeners.js';

/** Set by the old supervisor in the new one's environment (and removed from it at once). */
export const UPGRADE_ENV = {
  /** The old supervisor's pid: this `zdt start` is a successor. */
  from: 'ZDT_UPGRADE_FROM',
  /** JSON `[{ "fd": 4, "origin": "inherited" | "systemd", "path"?: "/run/app.sock" }]`: the listening sockets, in the old one's order. */
  listeners: 'ZDT_INHERITED_LISTENERS',
  /** The metrics endpoint's listening socket. */
  metricsFd: 'ZDT_INHERITED_METRICS_FD',
} as const;

export interface SuccessorWorker {
  id: number;
  pid: number;
  generation: number;
}

export interface SuccessorReady {
  pid: number;
  /** `process.version` of the new supervisor. */
  node: string;
  workers: SuccessorWorker[];
}

type FromSuccessor =
  | ({ zdt: 'upgrade:ready' } & SuccessorReady)
  | { zdt: 'upgrade:failed'; code: string; message: string }
  | { zdt: 'upgrade:committed' };

/**
 * `appMetrics`: the app's counters and histograms summed, as the old supervisor shows them from the commit on; then,
 * once its workers are gone, their final sum (`upgrade:metrics`). The new one carries them on (metrics/app-metrics.ts).
 */
type FromPredecessor = { zdt: 'upgrade:commit'; appMetrics?: AppMetric[] } | { zdt: 'upgrade:metrics'; appMetrics: AppMetric[] };

export interface SuccessorOptions {
  /** The Node.js binary to run it with. */
  node: string;
  /** The zdt CLI script, as the old one was started (`process.argv[1]`: a switched symlink is followed). */
  cli: string;
  execArgv: string[];
  /** `start` and its arguments. */
  argv: string[];
  cwd: string;
  env: Record<string, string | undefined>;
  listeners: readonly ListenerInfo[];
  metricsFd: number | undefined;
}

/** The first descriptor a successor inherits sockets at (0-2 stdio, 3 the IPC channel). */
const FIRST_FD = 4;

/** The old supervisor's side: the new supervisor it started, until it has taken over or been stopped. */
export class Successor {
  readonly pid: number | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private readonly messages: FromSuccessor[] = [];
  private readonly waiters = new Set<() => void>();
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private spawnError: Error | undefined;

  constructor(options: SuccessorOptions) {
    const descriptors = options.listeners.map((listener) => listener.fd);
    // A socket systemd created stays systemd's (its file is never removed by zdt); one zdt bound is the new one's now.
    const inherited: ListenDescriptor[] = options.listeners.map((listener, index) => ({
      fd: FIRST_FD + index,
      origin: listener.origin === 'systemd' ? 'systemd' : 'inherited',
      ...(listener.path === undefined ? {} : { path: listener.path }),
    }));
    const env: Record<string, string | undefined> = {
      ...options.env,
      [UPGRADE_ENV.from]: String(process.pid),
      [UPGRADE_ENV.listeners]: JSON.stringify(inherited),
    };
    if (options.metricsFd !== undefined) env[UPGRADE_ENV.metricsFd] = String(FIRST_FD + descriptors.length);
    this.child = spawn(options.node, [...options.execArgv, options.cli, ...options.argv], {
      cwd: options.cwd,
      env,
      // Its own session: it outlives this process, and a signal to this one's process group does not reach it.
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...descriptors, ...(options.metricsFd === undefined ? [] : [options.metricsFd])],
    });
    this.pid = this.child.pid;
    this.child.on('message', (message: FromSuccessor) => {
      if (typeof message !== 'object' || message === null || typeof message.zdt !== 'string') return;
      this.messages.push(message);
      this.notify();
    });
    this.child.on('error', (error) => {
      this.spawnError = error;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.notify();
        resolve(this.exit);
      });
    });
  }

  private notify(): void {
    for (const wake of this.waiters) wake();
  }

  get running(): boolean {
    return this.pid !== undefined && this.exit === undefined && this.spawnError === undefined;
  }

  /** Waits for a message of `kind`; rejects UpgradeFailedError naming what happened instead. */
  private waitFor(kind: FromSuccessor['zdt'], timeoutMs: number, what: string): Promise<FromSuccessor> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const failed = this.messages.find((message) => message.zdt === 'upgrade:failed');
        const found = this.messages.find((message) => message.zdt === kind);
        if (found) return finish(() => resolve(found));
        if (failed && failed.zdt === 'upgrade:failed') return finish(() => reject(new UpgradeFailedError(`the new supervisor (pid ${this.pid}) failed: ${failed.code}: ${failed.message}`, this.pid)));
        if (this.spawnError) return finish(() => reject(new UpgradeFailedError(`the new supervisor could not be started: ${this.spawnError!.message}`, this.pid, { cause: this.spawnError })));
        if (this.exit) {
          const how = this.exit.signal ? `was killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`;
          return finish(() => reject(new UpgradeFailedError(`the new supervisor (pid ${this.pid}) ${how} before it was ${what}`, this.pid)));
        }
      };
      const timer = setTimeout(() => finish(() => reject(new UpgradeFailedError(`the new supervisor (pid ${this.pid}) was not ${what} within ${timeoutMs}ms`, this.pid))), timeoutMs);
      timer.unref();
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Resolves once every worker of the new supervisor is ready. */
  async ready(timeoutMs: number): Promise<SuccessorReady> {
    const message = await this.waitFor('upgrade:ready', timeoutMs, 'ready');
    const { pid, node, workers } = message as Extract<FromSuccessor, { zdt: 'upgrade:ready' }>;
    return { pid, node, workers };
  }

  /** Lets it take the control path and the PID file, with the app metrics' sum; resolves once it has. */
  async commit(timeoutMs: number, appMetrics: AppMetric[]): Promise<void> {
    const message: FromPredecessor = { zdt: 'upgrade:commit', appMetrics };
    this.child.send(message);
    await this.waitFor('upgrade:committed', timeoutMs, 'in place');
  }

  /** After the takeover and this one's drain: the app metrics' final sum; then it no longer needs this process. */
  release(appMetrics: AppMetric[]): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        if (this.child.connected) this.child.disconnect();
        this.child.unref();
        resolve();
      };
      if (!this.child.connected) return done();
      try {
        const message: FromPredecessor = { zdt: 'upgrade:metrics', appMetrics };
        this.child.send(message, () => done());
      } catch {
        done();
      }
    });
  }

  /**
   * Stops it as SIGTERM stops `zdt start` (its workers drain); after `graceMs`, SIGKILLs its process group (it and
   * its workers). Removes the temporary control socket it may have left.
   */
  async stop(graceMs: number, temporaryControl?: string): Promise<void> {
    if (this.pid !== undefined && this.exit === undefined) {
      // Released after a takeover: waiting for its exit must keep this process alive again.
      this.child.ref();
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-this.pid!, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }, graceMs);
      timer.unref();
      await this.exited;
      clearTimeout(timer);
    }
    if (temporaryControl !== undefined && existsSync(temporaryControl) && lstatSync(temporaryControl).isSocket()) {
      try {
        unlinkSync(temporaryControl);
      } catch {
        // Removed meanwhile.
      }
    }
  }
}

/** The new supervisor's side of the exchange, when this `zdt start` was started by `zdt upgrade`. */
export class Predecessor {
  private commitRequested: Promise<'commit' | 'gone'>;
  private appMetrics: ((metrics: AppMetric[] | undefined, final: boolean) => void) | undefined;
  private lastAppMetrics: { metrics: AppMetric[] | undefined; final: boolean } | undefined;

  private constructor(readonly pid: number) {
    this.commitRequested = new Promise((resolve) => {
      const onMessage = (message: FromPredecessor) => {
        if (message?.zdt === 'upgrade:commit') {
          this.tell(message.appMetrics, false);
          resolve('commit');
        } else if (message?.zdt === 'upgrade:metrics') {
          process.off('message', onMessage);
          this.tell(message.appMetrics, true);
          this.close();
        }
      };
      process.on('message', onMessage);
      // The old supervisor went away (killed, or done): this one carries on as the supervisor.
      process.once('disconnect', () => {
        process.off('message', onMessage);
        this.tell(undefined, true);
        resolve('gone');
      });
    });
  }

  /** Hears the old supervisor's app metrics sum: at the commit, then its final one (or nothing more: it is gone). */
  onAppMetrics(listener: (metrics: AppMetric[] | undefined, final: boolean) => void): void {
    this.appMetrics = listener;
    if (this.lastAppMetrics) listener(this.lastAppMetrics.metrics, this.lastAppMetrics.final);
  }

  private tell(metrics: AppMetric[] | undefined, final: boolean): void {
    if (this.lastAppMetrics?.final) return;
    this.lastAppMetrics = { metrics: metrics ?? this.lastAppMetrics?.metrics, final };
    this.appMetrics?.(metrics, final);
  }

  /** Present when this process is a successor with its channel to the old supervisor. */
  static find(env: NodeJS.ProcessEnv = process.env): Predecessor | undefined {
    const from = Number(env[UPGRADE_ENV.from]);
    delete env[UPGRADE_ENV.from];
    if (!Number.isInteger(from) || from <= 0 || typeof process.send !== 'function') return undefined;
    return new Predecessor(from);
  }

  private send(message: FromSuccessor, then?: () => void): void {
    if (typeof process.send !== 'function' || !process.connected) return then?.();
    try {
      process.send(message, undefined, {}, () => then?.());
    } catch {
      // The old supervisor is gone.
      then?.();
    }
  }

  ready(ready: SuccessorReady): Promise<'commit' | 'gone'> {
    this.send({ zdt: 'upgrade:ready', ...ready });
    return this.commitRequested;
  }

  /** Tells the old supervisor why this one cannot take over, then closes the channel (it would keep this process alive). */
  failed(error: unknown): void {
    const code = error instanceof ZdtError ? error.code : 'ERR_ZDT_INTERNAL';
    this.send({ zdt: 'upgrade:failed', code, message: error instanceof Error ? error.message : String(error) }, () => this.close());
  }

  /** Closes the channel to the old supervisor (at the end of this one, whatever happened). */
  close(): void {
    if (process.connected) process.disconnect();
  }

  /** Says it has taken over; the channel stays open for the old one's final app metrics, and closes after them. */
  committed(): void {
    this.send({ zdt: 'upgrade:committed' });
  }
}

/** The sockets a successor inherited (and removes the variables, so its workers and its own successor never see them). */
export function takeInheritedSockets(env: NodeJS.ProcessEnv = process.env): { listeners: ListenDescriptor[]; metricsFd: number | undefined } {
  const text = env[UPGRADE_ENV.listeners];
  const metrics = env[UPGRADE_ENV.metricsFd];
  delete env[UPGRADE_ENV.listeners];
  delete env[UPGRADE_ENV.metricsFd];
  let listeners: ListenDescriptor[] = [];
  if (text) {
    try {
      listeners = (JSON.parse(text) as ListenDescriptor[]).map((item) => ({
        fd: Number(item.fd),
        origin: item.origin === 'systemd' ? 'systemd' : 'inherited',
        ...(item.path ? { path: String(item.path) } : {}),
      }));
    } catch (error) {
      throw new ListenError(UPGRADE_ENV.listeners, `expected a JSON array of { fd, path }, received ${JSON.stringify(text)}`, { cause: error });
    }
  }
  return { listeners, metricsFd: metrics === undefined || metrics === '' ? undefined : Number(metrics) };
}

/**
 * systemd socket activation: `LISTEN_FDS` sockets from fd 3 on, when `LISTEN_PID` is this process. The variables are
 * removed either way, as sd_listen_fds() does, so the workers never take the sockets for theirs.
 */
export function takeActivatedSockets(env: NodeJS.ProcessEnv = process.env): ListenDescriptor[] {
  const pid = env.LISTEN_PID;
  const count = env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (count === undefined || pid === undefined) return [];
  if (!/^\d+$/.test(pid)) throw new ListenError('LISTEN_PID', `expected a pid, received ${JSON.stringify(pid)}`);
  if (Number(pid) !== process.pid) return [];
  if (!/^\d+$/.test(count) || Number(count) < 1 || Number(count) > 1024) {
    throw new ListenError('LISTEN_FDS', `expected a number of descriptors from 1 to 1024, received ${JSON.stringify(count)}`);
  }
  return Array.from({ length: Number(count) }, (_unused, index) => ({ fd: 3 + index, origin: 'systemd' as const }));
}
