/**
 * The control channel of a running `zdt start`: a Unix socket only its owner
 * can use (mode 0600, in a directory private to that uid), one
 * newline-delimited JSON request per connection (`{"command":"reload"|"status"|"stop"}`,
 * `{"command":"scale","workers":N}`), answered with zero or more
 * `progress` lines and one `result` or `error` line.
 *
 * Both ends refuse a socket they cannot trust (see socket-path.ts). The
 * server closes a connection that has not sent its request line within
 * `idleTimeoutMs`, and keeps at most `maxConnections` open: beyond that the
 * oldest connection still waiting for its request line makes room, and when
 * every one is busy with a request the new connection is closed at once.
 *
 * The socket is created at a temporary name in the same directory and then linked to the control path (renamed
 * over it by a new supervisor taking over in `zdt upgrade`): libuv removes a listening Unix socket's file by the
 * name it was bound at when the server closes, and that name is gone by then, so a supervisor that handed the path
 * over can never remove its successor's socket. `close()` removes the control path itself, only while it is still
 * this server's socket.
 */
import net from 'node:net';
import path from 'node:path';
import { chmodSync, linkSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import { ControlInUseError, ControlPathError, UsageError, ZdtError } from '../../errors.js';
import type { Supervisor, SupervisorEvents } from '../supervisor.js';
import { permissionError } from './client.js';
import { parseControlRequest, type ControlResponse, type UpgradeRequest } from './messages.js';
import { checkExistingSocket, checkSocketPathLength, prepareControlDirectory } from './socket-path.js';

export { CONTROL_ENV, defaultControlPath } from './socket-path.js';
export { sendControlCommand } from './client.js';
export type { ControlCommand, ControlRequest, ControlResponse, UpgradeRequest } from './messages.js';

/**
 * What the server calls for each command instead of the supervisor's own method: `zdt start` re-reads its
 * configuration before a reload and adds its own data to the status.
 */
export interface ControlHandlers {
  /** `request.canaryMs`: a canary window for this rollout only. @default (request) => supervisor.reload(request) */
  reload?: (request: { canaryMs?: number }) => Promise<unknown>;
  /** @default (workers) => supervisor.scale(workers) */
  scale?: (workers: number) => Promise<unknown>;
  /** @default () => supervisor.status() */
  status?: () => unknown;
  /** `zdt deploy` and `zdt rollback`. @default refused: only `zdt start` with `deployTo` keeps releases */
  deploy?: (request: { release: string; deployTo: string; keepReleases?: number }) => Promise<unknown>;
  rollback?: (release: string | undefined) => Promise<unknown>;
  /** `zdt upgrade`; `progress` streams a line to the client. @default refused: only `zdt start` can upgrade */
  upgrade?: (request: UpgradeRequest, progress: (message: string) => void) => Promise<unknown>;
}

export interface ControlServerOptions {
  /** A connection that has not sent its request line by then is closed (default 5 s). */
  idleTimeoutMs?: number;
  /** Connections open at once (default 64). */
  maxConnections?: number;
  handlers?: ControlHandlers;
  /**
   * A new supervisor of `zdt upgrade`: listen at a temporary name while the old supervisor still answers on the
   * path, and take the path over with `takeOver()` once it is ready.
   */
  successor?: boolean;
}

/** Where a supervisor's control socket is created before it is linked (or, taking over, renamed) to `socketPath`. */
export function temporaryControlPath(socketPath: string, pid = process.pid): string {
  return path.join(path.dirname(socketPath), `.zdt-${pid}.sock`);
}

export const CONTROL_IDLE_TIMEOUT_MS = 5_000;
export const CONTROL_MAX_CONNECTIONS = 64;

/** Resolves true when something accepts connections on the socket path. */
function probe(socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolve(false);
      else reject(error);
    });
  });
}

type StopHandler = () => Promise<unknown>;

interface Connection {
  /** The request line arrived: the connection is no longer idle and is never timed out. */
  busy: boolean;
  idleTimer: NodeJS.Timeout;
}

export class ControlServer {
  readonly path: string;
  private readonly supervisor: Supervisor;
  private readonly onStop: StopHandler;
  private readonly handlers: Required<ControlHandlers>;
  private readonly server: net.Server;
  private readonly connections = new Map<net.Socket, Connection>();
  private readonly idleTimeoutMs: number;
  private readonly maxConnections: number;
  private listening = false;
  private readonly successor: boolean;
  /** The bound socket file's inode once it is at `path`: close() removes the path only while it is still ours. */
  private inode: number | undefined;
  private readonly temporaryPath: string;

  /** `onStop` performs the same stop as SIGTERM (the CLI exits when it resolves). */
  constructor(supervisor: Supervisor, socketPath: string, onStop: StopHandler, options: ControlServerOptions = {}) {
    this.supervisor = supervisor;
    this.path = path.resolve(socketPath);
    this.onStop = onStop;
    this.handlers = {
      reload: ({ canaryMs }) => supervisor.reload(canaryMs === undefined ? undefined : { canaryMs }),
      scale: (workers) => supervisor.scale(workers),
      status: () => supervisor.status(),
      upgrade: () => Promise.reject(new UsageError('this supervisor cannot upgrade itself: only `zdt start` can')),
      deploy: () => Promise.reject(new UsageError('this supervisor keeps no releases: only `zdt start` with deployTo does')),
      rollback: () => Promise.reject(new UsageError('this supervisor keeps no releases: only `zdt start` with deployTo does')),
      ...options.handlers,
    };
    this.idleTimeoutMs = options.idleTimeoutMs ?? CONTROL_IDLE_TIMEOUT_MS;
    this.maxConnections = Math.max(1, options.maxConnections ?? CONTROL_MAX_CONNECTIONS);
    this.server = net.createServer((socket) => this.accept(socket));
    this.successor = options.successor === true;
    this.temporaryPath = temporaryControlPath(this.path);
  }

  /**
   * Checks the path before anything is created (ControlPathError: too long for a Unix socket, directory
   * missing; ControlPermissionError: directory not writable; ControlUntrustedError: the socket or a
   * directory on its path belongs to another user or can be written by others), creates the default
   * directory 0700 when missing, then listens with mode 0600. Rejects ControlInUseError if a live
   * supervisor owns the path; a stale socket file of our own is replaced.
   */
  async listen(): Promise<void> {
    prepareControlDirectory(this.path);
    // The temporary name must fit a socket address too; when it does not, listen at the path itself.
    let bindPath = this.temporaryPath;
    try {
      checkSocketPathLength(bindPath);
    } catch (error) {
      if (this.successor) throw error;
      bindPath = this.path;
    }
    if (checkExistingSocket(bindPath) && bindPath !== this.path) unlinkSync(bindPath);
    if (!this.successor && checkExistingSocket(this.path)) {
      let live: boolean;
      try {
        live = await probe(this.path);
      } catch {
        live = true;
      }
      if (live) throw new ControlInUseError(this.path);
      unlinkSync(this.path);
    }
    // The umask makes the socket 0600 from the moment it exists, not just after the chmod below.
    const previousUmask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(bindPath, () => {
          this.server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new ControlInUseError(this.path);
      if (code === 'EACCES' || code === 'EPERM') throw permissionError(this.path, error as NodeJS.ErrnoException);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new ControlPathError(this.path, `cannot create the socket (${code})`);
      throw error;
    } finally {
      process.umask(previousUmask);
    }
    try {
      chmodSync(bindPath, 0o600);
      if (bindPath === this.path) this.inode = lstatSync(this.path).ino;
      else if (!this.successor) this.linkInPlace(bindPath);
    } catch (error) {
      // Never leave a listening server (it would keep the process alive) or a socket file behind.
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
      throw error;
    }
    this.listening = true;
    // Control connections must never keep a supervisor alive on their own.
    this.server.unref();
  }

  /** Links the socket at the control path; a path taken since the check means another supervisor won the race. */
  private linkInPlace(bindPath: string): void {
    try {
      linkSync(bindPath, this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new ControlInUseError(this.path);
      throw error;
    } finally {
      unlinkSync(bindPath);
    }
    this.inode = lstatSync(this.path).ino;
  }

  /**
   * A successor's takeover (`zdt upgrade`): the socket replaces whatever is at the control path in one rename, so
   * a client always finds a supervisor there. Checks the path again first (the directory may have changed since).
   */
  takeOver(): void {
    if (!this.successor || this.inode !== undefined) return;
    prepareControlDirectory(this.path);
    checkExistingSocket(this.path);
    renameSync(this.temporaryPath, this.path);
    this.inode = lstatSync(this.path).ino;
  }

  /** True once this server answers at the control path. */
  get inPlace(): boolean {
    return this.inode !== undefined;
  }

  close(): Promise<void> {
    if (!this.listening) return Promise.resolve();
    this.listening = false;
    // Only while the path is still this server's socket: after an upgrade it is the successor's.
    try {
      if (this.inode !== undefined && lstatSync(this.path).ino === this.inode) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.connections.keys()) socket.end();
      const forceTimer = setTimeout(() => {
        for (const socket of this.connections.keys()) socket.destroy();
      }, 1_000);
      forceTimer.unref();
    });
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {});
    if (this.connections.size >= this.maxConnections) {
      // Make room by dropping the oldest connection that never sent its request; refuse when all are busy.
      const idle = [...this.connections].find(([, connection]) => !connection.busy)?.[0];
      if (idle === undefined) {
        socket.destroy();
        return;
      }
      this.drop(idle);
    }
    const connection: Connection = {
      busy: false,
      idleTimer: setTimeout(() => this.drop(socket), this.idleTimeoutMs),
    };
    connection.idleTimer.unref();
    this.connections.set(socket, connection);
    socket.on('close', () => {
      clearTimeout(connection.idleTimer);
      this.connections.delete(socket);
    });
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('data', (chunk: string) => {
      if (connection.busy) return;
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) {
        if (buffer.length > 64 * 1024) this.drop(socket);
        return;
      }
      // A request under way (a long reload) is never timed out.
      connection.busy = true;
      clearTimeout(connection.idleTimer);
      void this.handle(socket, buffer.slice(0, newline));
    });
  }

  private drop(socket: net.Socket): void {
    const connection = this.connections.get(socket);
    if (connection) clearTimeout(connection.idleTimer);
    this.connections.delete(socket);
    socket.destroy();
  }

  /** Ends the connection after the last line; a client that never closes its side is dropped after the idle timeout. */
  private finish(socket: net.Socket): void {
    socket.end(() => {
      const linger = setTimeout(() => socket.destroy(), this.idleTimeoutMs);
      linger.unref();
      socket.once('close', () => clearTimeout(linger));
    });
  }

  private async handle(socket: net.Socket, line: string): Promise<void> {
    const write = (response: ControlResponse) => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
    };
    try {
      // Nothing is done for a request that is not exactly one of the protocol's: unknown keys included.
      const request = parseControlRequest(line);
      switch (request.command) {
        case 'status':
          write({ type: 'result', ok: true, data: await this.handlers.status() });
          break;
        case 'reload': {
          const unsubscribe = this.streamRollout(write);
          try {
            write({ type: 'result', ok: true, data: await this.handlers.reload({ canaryMs: request.canaryMs }) });
          } finally {
            unsubscribe();
          }
          break;
        }
        case 'scale': {
          // New workers are streamed like a rollout's; the count is validated by the handler (ERR_ZDT_INVALID_OPTION).
          const unsubscribe = this.streamRollout(write);
          try {
            write({ type: 'result', ok: true, data: await this.handlers.scale(request.workers) });
          } finally {
            unsubscribe();
          }
          break;
        }
        case 'deploy':
        case 'rollback': {
          const unsubscribe = this.streamRollout(write);
          try {
            const { deploy, rollback } = this.handlers;
            write({ type: 'result', ok: true, data: await (request.command === 'deploy' ? deploy(request) : rollback(request.release)) });
          } finally {
            unsubscribe();
          }
          break;
        }
        case 'stop':
          write({ type: 'progress', event: 'stopping', message: `stopping supervisor pid ${process.pid}` });
          write({ type: 'result', ok: true, data: await this.onStop() });
          break;
        case 'upgrade': {
          const upgrade = this.handlers.upgrade;
          const { node, timeoutMs } = request;
          const result = await upgrade({ node, timeoutMs }, (message) => write({ type: 'progress', event: 'upgrade', message }));
          write({ type: 'result', ok: true, data: result });
          break;
        }
      }
    } catch (error) {
      const code = error instanceof ZdtError ? error.code : 'ERR_ZDT_INTERNAL';
      write({ type: 'error', ok: false, code, message: error instanceof Error ? error.message : String(error) });
    }
    this.finish(socket);
  }

  private streamRollout(write: (response: ControlResponse) => void): () => void {
    const supervisor = this.supervisor;
    // A failed rollout is not streamed: it arrives as the request's error line.
    const listeners: { [Event in keyof SupervisorEvents]?: (...args: SupervisorEvents[Event]) => void } = {
      'rollout:start': ({ generation, workers }) =>
        write({ type: 'progress', event: 'rollout:start', message: `rollout of generation ${generation} started (${workers} worker${workers === 1 ? '' : 's'})` }),
      fork: ({ workerId, pid, generation }) =>
        write({ type: 'progress', event: 'fork', message: `worker ${workerId}: forked pid ${pid} (generation ${generation})` }),
      ready: ({ workerId, pid }) => write({ type: 'progress', event: 'ready', message: `worker ${workerId}: pid ${pid} ready` }),
      'rollout:progress': ({ workerId, oldPid, newPid, done, total }) =>
        write({ type: 'progress', event: 'rollout:progress', message: `worker ${workerId}: ${oldPid ?? '(none)'} -> ${newPid}, draining the old one (${done}/${total})` }),
      'rollout:in-place': ({ message }) => write({ type: 'progress', event: 'rollout:in-place', message: `warning: ${message}` }),
      'canary:start': ({ generation, baselineGeneration, windowMs }) =>
        write({ type: 'progress', event: 'canary:start', message: `canary: holding ${windowMs}ms to compare generation ${generation}'s first batch with generation ${baselineGeneration}` }),
      'canary:verdict': ({ message }) => write({ type: 'progress', event: 'canary:verdict', message }),
      'rollout:rollback': ({ workerId, oldPid, newPid, toGeneration }) =>
        write({ type: 'progress', event: 'rollout:rollback', message: `worker ${workerId}: rolled back to generation ${toGeneration}: ${oldPid ?? '(none)'} -> ${newPid}, draining the refused one` }),
    };
    for (const [event, listener] of Object.entries(listeners)) supervisor.on(event as 'fork', listener as () => void);
    return () => {
      for (const [event, listener] of Object.entries(listeners)) supervisor.off(event as 'fork', listener as () => void);
    };
  }
}
