/**
 * The control channel of a running `zdt start`: a Unix socket only its owner
 * can use (mode 0600), one newline-delimited JSON request per connection,
 * answered with zero or more `progress` lines and one `result` or `error`
 * line.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { ControlInUseError, ControlUnavailableError, InvalidOptionError, ZdtError } from '../errors.js';
import type { Supervisor, SupervisorEvents } from './supervisor.js';

export type ControlCommand = 'reload' | 'status' | 'stop';

export interface ControlRequest {
  command: ControlCommand;
}

export type ControlResponse =
  | { type: 'progress'; event: string; message: string; data?: unknown }
  | { type: 'result'; ok: true; data?: unknown }
  | { type: 'error'; ok: false; code: string; message: string };

export const CONTROL_ENV = 'ZDT_CONTROL';

/**
 * `$ZDT_CONTROL`, else `$XDG_RUNTIME_DIR/zdt-<uid>.sock`, else `<os.tmpdir()>/zdt-<uid>.sock`.
 * One supervisor per user by default; pass `--control` to run more.
 */
export function defaultControlPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env[CONTROL_ENV]) return path.resolve(env[CONTROL_ENV]);
  const directory = env.XDG_RUNTIME_DIR || os.tmpdir();
  return path.join(directory, `zdt-${process.getuid?.() ?? 'user'}.sock`);
}

/**
 * The default directory may be the shared tmpdir: a socket there that belongs to another user is not ours to
 * talk to or replace, whatever answers on it.
 */
function ownedBySomeoneElse(stats: { uid: number }): boolean {
  const uid = process.getuid?.();
  return uid !== undefined && uid !== 0 && stats.uid !== uid;
}

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

type StopHandler = () => Promise<void>;

export class ControlServer {
  readonly path: string;
  private readonly supervisor: Supervisor;
  private readonly onStop: StopHandler;
  private readonly server: net.Server;
  private readonly connections = new Set<net.Socket>();
  private listening = false;

  /** `onStop` performs the same stop as SIGTERM (the CLI exits when it resolves). */
  constructor(supervisor: Supervisor, socketPath: string, onStop: StopHandler) {
    this.supervisor = supervisor;
    this.path = path.resolve(socketPath);
    this.onStop = onStop;
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /** Rejects ControlInUseError if a live supervisor owns the path; a stale socket file is replaced. */
  async listen(): Promise<void> {
    let existing;
    try {
      existing = lstatSync(this.path);
    } catch {
      existing = undefined;
    }
    if (existing) {
      if (!existing.isSocket() || ownedBySomeoneElse(existing)) {
        throw new InvalidOptionError('control', 'a path for a Unix socket of your own (an existing file or another user\'s socket is never replaced)', this.path);
      }
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
        this.server.listen(this.path, () => {
          this.server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(previousUmask);
    }
    chmodSync(this.path, 0o600);
    this.listening = true;
    // Control connections must never keep a supervisor alive on their own.
    this.server.unref();
  }

  close(): Promise<void> {
    if (!this.listening) return Promise.resolve();
    this.listening = false;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.connections) socket.end();
      const forceTimer = setTimeout(() => {
        for (const socket of this.connections) socket.destroy();
      }, 1_000);
      forceTimer.unref();
    });
  }

  private accept(socket: net.Socket): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    let buffer = '';
    let handled = false;
    socket.on('data', (chunk: string) => {
      if (handled) return;
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) {
        if (buffer.length > 64 * 1024) socket.destroy();
        return;
      }
      handled = true;
      void this.handle(socket, buffer.slice(0, newline));
    });
  }

  private async handle(socket: net.Socket, line: string): Promise<void> {
    const write = (response: ControlResponse) => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
    };
    let request: ControlRequest;
    try {
      request = JSON.parse(line) as ControlRequest;
    } catch {
      write({ type: 'error', ok: false, code: 'ERR_ZDT_USAGE', message: 'control request is not JSON' });
      socket.end();
      return;
    }
    try {
      switch (request.command) {
        case 'status':
          write({ type: 'result', ok: true, data: this.supervisor.status() });
          break;
        case 'reload': {
          const unsubscribe = this.streamRollout(write);
          try {
            write({ type: 'result', ok: true, data: await this.supervisor.reload() });
          } finally {
            unsubscribe();
          }
          break;
        }
        case 'stop':
          write({ type: 'progress', event: 'stopping', message: `stopping supervisor pid ${process.pid}` });
          await this.onStop();
          write({ type: 'result', ok: true });
          break;
        default:
          write({ type: 'error', ok: false, code: 'ERR_ZDT_USAGE', message: `unknown control command ${JSON.stringify(request.command)}` });
      }
    } catch (error) {
      const code = error instanceof ZdtError ? error.code : 'ERR_ZDT_INTERNAL';
      write({ type: 'error', ok: false, code, message: error instanceof Error ? error.message : String(error) });
    }
    socket.end();
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
    };
    for (const [event, listener] of Object.entries(listeners)) supervisor.on(event as 'fork', listener as () => void);
    return () => {
      for (const [event, listener] of Object.entries(listeners)) supervisor.off(event as 'fork', listener as () => void);
    };
  }
}

/**
 * Sends one command to the supervisor at `socketPath`; calls `onProgress` for
 * each progress line and resolves with the final result or error line.
 * Rejects ControlUnavailableError when nobody answers there.
 */
export function sendControlCommand(
  socketPath: string,
  command: ControlCommand,
  onProgress: (response: Extract<ControlResponse, { type: 'progress' }>) => void = () => {},
): Promise<Exclude<ControlResponse, { type: 'progress' }>> {
  try {
    if (ownedBySomeoneElse(lstatSync(socketPath))) {
      return Promise.reject(
        new ControlUnavailableError(path.resolve(socketPath), { cause: new Error('the socket belongs to another user') }),
      );
    }
  } catch {
    // Missing: the connect below reports it.
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
      socket.end();
    };
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ command } satisfies ControlRequest)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        let response: ControlResponse;
        try {
          response = JSON.parse(line) as ControlResponse;
        } catch {
          continue;
        }
        if (response.type === 'progress') onProgress(response);
        else finish(() => resolve(response));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      finish(() => reject(new ControlUnavailableError(path.resolve(socketPath), { cause: error })));
    });
    socket.on('close', () => {
      finish(() =>
        reject(new ControlUnavailableError(path.resolve(socketPath), { cause: new Error('connection closed before an answer') })),
      );
    });
  });
}
