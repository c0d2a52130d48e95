/**
 * Listening sockets the supervisor owns (`listen` option, `zdt start --listen`, systemd socket activation, or the
 * previous supervisor's after `zdt upgrade`), so they can outlive every worker and be handed to a new supervisor.
 *
 * The supervisor never accepts on them. A socket zdt creates is bound but not listening (node's own
 * `net._createServerHandle`, the function node:cluster binds with, exported by node:net since 0.x and the same in
 * Node 20, 22 and 24); the first worker's listen() makes it listen. Each worker gets its own copy of every socket at
 * fork (an extra stdio entry, fd 4 on) and accepts on it itself (listen-map.ts), so node:cluster never holds these
 * descriptors and cannot close the supervisor's when its last worker leaves. Each descriptor is still checked
 * before every fork (same socket inode), as a guard.
 */
import { existsSync, fstatSync, lstatSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import { InvalidOptionError, ListenError } from '../../errors.js';
import { hostPort } from '../../host-port.js';
import type { InheritedListener } from '../../worker/listen-map.js';

export type ListenSpec =
  | { kind: 'tcp'; /** As written, normalised: `3000`, `127.0.0.1:3000`, `[::1]:3000`. */ text: string; host: string | undefined; port: number }
  | { kind: 'unix'; text: string; path: string };

/** Where a listening socket came from. */
export type ListenerOrigin = 'bound' | 'systemd' | 'inherited';

/** A listening socket given by descriptor: systemd's (`LISTEN_FDS`) or the previous supervisor's. */
export interface ListenDescriptor {
  fd: number;
  origin: Exclude<ListenerOrigin, 'bound'>;
  /** For an inherited Unix socket: the path it was bound to (read from /proc on Linux otherwise). */
  path?: string;
}

/** What the `listen` option takes: an address to bind, or a socket already open at a descriptor. */
export type ListenOption = string | ListenDescriptor;

export const LISTEN_EXPECTED = 'PORT, HOST:PORT with HOST an IP address (127.0.0.1:3000, [::1]:3000), or unix:PATH; port 1 to 65535';

/** `PORT`, `HOST:PORT`, `[IPv6]:PORT` or `unix:PATH` (a relative path is resolved against `base`). */
export function parseListenSpec(value: unknown, base = process.cwd(), option = 'listen'): ListenSpec {
  if (typeof value !== 'string') throw new InvalidOptionError(option, LISTEN_EXPECTED, value);
  const text = value.trim();
  if (text.startsWith('unix:')) {
    const socketPath = text.slice('unix:'.length);
    if (socketPath === '') throw new InvalidOptionError(option, LISTEN_EXPECTED, value);
    const resolved = path.resolve(base, socketPath);
    return { kind: 'unix', text: `unix:${resolved}`, path: resolved };
  }
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):)?(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  const host = match?.[1] ?? match?.[2];
  if (!match || port < 1 || port > 65_535 || (host !== undefined && net.isIP(host) === 0)) {
    throw new InvalidOptionError(option, LISTEN_EXPECTED, value);
  }
  return { kind: 'tcp', text: host === undefined ? String(port) : hostPort(host, port), host, port };
}

interface NativeHandle {
  fd: number;
  close(): void;
  getsockname?(out: { address?: string; port?: number; family?: string }): number;
  constructor: { name: string };
}

const createServerHandle = (net as unknown as {
  _createServerHandle?: (address: string | null, port: number | null, addressType: number | null, fd?: number) => NativeHandle | number;
})._createServerHandle;

function nativeHandle(address: string | null, port: number | null, addressType: number | null, fd?: number): NativeHandle | number {
  if (typeof createServerHandle !== 'function') {
    throw new ListenError(address ?? `fd ${fd}`, `this Node.js (${process.version}) has no net._createServerHandle`);
  }
  return createServerHandle(address, port, addressType, fd);
}

/** The path of the Unix socket with this inode, from /proc/net/unix (Linux). */
function unixSocketPath(inode: number): string | undefined {
  try {
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (Number(fields[6]) === inode && fields[7]?.startsWith('/')) return fields[7];
    }
  } catch {
    // No /proc: the path stays unknown.
  }
  return undefined;
}

export interface ListenerInfo {
  /** `127.0.0.1:3000`, `[::]:3000`, `unix:/run/app.sock`: where it is bound. */
  address: string;
  /** The supervisor's descriptor. */
  fd: number;
  origin: ListenerOrigin;
  /** A Unix socket's path. */
  path?: string;
}

export class OwnedListener {
  readonly address: string;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly path: string | undefined;
  private readonly socketInode: number;
  private closed = false;

  constructor(
    private readonly handle: NativeHandle,
    readonly origin: ListenerOrigin,
    where: { host?: string; port?: number; path?: string },
    /** The inode of the socket file zdt created, so close() removes only its own. */
    private readonly fileInode?: number,
  ) {
    this.host = where.host;
    this.port = where.port;
    this.path = where.path;
    this.address = where.path !== undefined ? `unix:${where.path}` : hostPort(where.host ?? '', where.port ?? 0);
    this.socketInode = fstatSync(handle.fd).ino;
  }

  get fd(): number {
    return this.handle.fd;
  }

  /** Throws ListenError unless the descriptor still holds the same socket (closed or reused otherwise). */
  verify(): void {
    let inode: number | undefined;
    try {
      const stats = fstatSync(this.handle.fd);
      inode = stats.isSocket() ? stats.ino : undefined;
    } catch {
      inode = undefined;
    }
    if (this.closed || inode !== this.socketInode) {
      throw new ListenError(this.address, `descriptor ${this.handle.fd} no longer holds the listening socket (closed, or reused for something else)`);
    }
  }

  /** Does `spec` name this socket? The same path, or the same port and host (no host: any address). */
  serves(spec: ListenSpec): boolean {
    if (spec.kind === 'unix') return this.path === spec.path;
    if (this.port !== spec.port) return false;
    return spec.host === undefined || spec.host === this.host;
  }

  info(): ListenerInfo {
    return { address: this.address, fd: this.handle.fd, origin: this.origin, ...(this.path === undefined ? {} : { path: this.path }) };
  }

  /**
   * Closes the descriptor, and (unless `keepFile`: handed over to a new supervisor) removes the Unix socket file zdt
   * created when it is still that file.
   */
  close(keepFile = false): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
    if (!keepFile && this.path !== undefined && this.fileInode !== undefined) {
      try {
        if (lstatSync(this.path).ino === this.fileInode) unlinkSync(this.path);
      } catch {
        // Already gone.
      }
    }
  }
}

/** Resolves true when something accepts connections at a Unix socket path. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

let temporaryNames = 0;

/** Binds `spec` (not listening yet). A Unix socket is bound at a temporary name in its directory, then moved in place. */
export async function bindListener(spec: ListenSpec): Promise<OwnedListener> {
  if (spec.kind === 'tcp') {
    const handle = nativeHandle(spec.host ?? null, spec.port, spec.host !== undefined && net.isIPv6(spec.host) ? 6 : 4);
    if (typeof handle === 'number') throw new Error(`bind ${getSystemErrorName(handle)} ${spec.text}`);
    // libuv keeps a TCP bind's EADDRINUSE for listen(); getsockname() reports it now.
    const bound: { address?: string; port?: number } = {};
    const error = handle.getsockname?.(bound) ?? 0;
    if (error !== 0 || !bound.port) {
      handle.close();
      throw new Error(`bind ${error !== 0 ? getSystemErrorName(error) : 'failed'} ${spec.text}`);
    }
    return new OwnedListener(handle, 'bound', { host: bound.address, port: bound.port });
  }
  // libuv removes a bound Unix socket's file by name when its handle closes: bound at a name that is gone once the
  // socket is in place, closing this descriptor (in this supervisor, or in one that handed it over) removes nothing.
  if (existsSync(spec.path)) {
    const stats = lstatSync(spec.path);
    if (!stats.isSocket()) throw new Error(`${spec.path} exists and is not a Unix socket (an existing file is never replaced)`);
    if (await answers(spec.path)) throw new Error(`bind EADDRINUSE ${spec.path}: something accepts connections there`);
  }
  const temporary = path.join(path.dirname(spec.path), `.zdt-${process.pid}-${++temporaryNames}`);
  const handle = nativeHandle(temporary, -1, -1);
  if (typeof handle === 'number') throw new Error(`bind ${getSystemErrorName(handle)} ${spec.path}`);
  try {
    renameSync(temporary, spec.path);
  } catch (error) {
    handle.close();
    throw error;
  }
  return new OwnedListener(handle, 'bound', { path: spec.path }, lstatSync(spec.path).ino);
}

/** Takes over a listening socket open at `descriptor.fd`; ListenError when it is not a socket to listen on. */
export function adoptListener(descriptor: ListenDescriptor): OwnedListener {
  const { fd, origin } = descriptor;
  const name = `fd ${fd}${origin === 'systemd' ? ' (LISTEN_FDS)' : ''}`;
  let stats;
  try {
    stats = fstatSync(fd);
  } catch (error) {
    throw new ListenError(name, `not an open descriptor (${(error as NodeJS.ErrnoException).code})`, { cause: error });
  }
  if (!stats.isSocket()) throw new ListenError(name, 'not a socket');
  const handle = nativeHandle(null, null, null, fd);
  if (typeof handle === 'number') throw new ListenError(name, `not a stream socket node can listen on (${getSystemErrorName(handle)})`);
  if (handle.constructor.name === 'Pipe') {
    const socketPath = descriptor.path ?? unixSocketPath(stats.ino);
    if (socketPath === undefined) throw new ListenError(name, 'a Unix socket whose path cannot be found (abstract or unnamed)');
    // A socket file zdt created (inherited from the previous supervisor) is removed at the last stop; systemd's is
    // systemd's.
    const fileInode = origin === 'inherited' && existsSync(socketPath) ? lstatSync(socketPath).ino : undefined;
    return new OwnedListener(handle, origin, { path: socketPath }, fileInode);
  }
  const bound: { address?: string; port?: number } = {};
  const error = handle.getsockname?.(bound) ?? -1;
  if (error !== 0 || !bound.port) throw new ListenError(name, 'a TCP socket that is not bound to a port');
  return new OwnedListener(handle, origin, { host: bound.address, port: bound.port });
}

/** The supervisor's listening sockets: opened once at start, handed to every worker, closed at the end. */
export class Listeners {
  private constructor(readonly all: readonly OwnedListener[]) {}

  static none(): Listeners {
    return new Listeners([]);
  }

  /**
   * Adopts every descriptor, then binds each address that no adopted socket serves already. On a failure, closes
   * what it opened and rethrows.
   */
  static async open(options: readonly ListenOption[], base: string): Promise<Listeners> {
    const opened: OwnedListener[] = [];
    try {
      for (const option of options) if (typeof option !== 'string') opened.push(adoptListener(option));
      for (const option of options) {
        if (typeof option !== 'string') continue;
        const spec = parseListenSpec(option, base);
        if (opened.some((listener) => listener.serves(spec))) continue;
        opened.push(await bindListener(spec));
      }
    } catch (error) {
      for (const listener of opened) if (listener.origin === 'bound') listener.close();
      throw error;
    }
    return new Listeners(opened);
  }

  get size(): number {
    return this.all.length;
  }

  verify(): void {
    for (const listener of this.all) listener.verify();
  }

  /** The descriptors, in order, for the stdio of a child (a worker: after 'ipc' at fd 3, so from fd 4 on). */
  descriptors(): number[] {
    return this.all.map((listener) => listener.fd);
  }

  /** `ZDT_LISTEN_FDS` for a worker whose stdio has them from `firstFd` on. */
  workerMap(firstFd: number): string {
    const map: InheritedListener[] = this.all.map((listener, index) => ({
      address: listener.address,
      fd: firstFd + index,
      ...(listener.path === undefined ? { host: listener.host, port: listener.port } : { path: listener.path }),
    }));
    return JSON.stringify(map);
  }

  info(): ListenerInfo[] {
    return this.all.map((listener) => listener.info());
  }

  close(): void {
    for (const listener of this.all) listener.close();
  }

  /** After a handover: closes this process's descriptors only; the sockets live on in the new supervisor. */
  release(): void {
    for (const listener of this.all) listener.close(true);
  }
}
