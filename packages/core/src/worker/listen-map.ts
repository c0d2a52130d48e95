/**
 * Listening sockets the supervisor owns (`zdt start --listen`, systemd socket activation, or a previous supervisor's
 * after `zdt upgrade`) reach every worker as inherited file descriptors, listed in `ZDT_LISTEN_FDS`. This makes the
 * app's own `listen(PORT)` (or `listen(PATH)`) for such an address listen on that descriptor instead, so the app is
 * unchanged. Installed by the preload, only when the variable is set.
 *
 * The worker accepts on its copy of the socket itself, not through node:cluster: node:cluster would take the
 * descriptor number as the primary's, share it through a handle of its own, and close the primary's descriptor when
 * the last worker leaves that handle. Accepting here is what cluster calls SCHED_NONE: the kernel hands each
 * connection to one of the processes accepting on the socket, old and new workers (and old and new supervisors'
 * workers during an upgrade) alike, and a worker that stops accepting leaves the others the queue.
 */
import cluster from 'node:cluster';
import net from 'node:net';
import path from 'node:path';
import type { ListeningMessage } from '../protocol.js';
import { requestedAddress, type ListenRequest } from './listen-args.js';
import { sendToPrimary } from './primary-channel.js';

export interface InheritedListener {
  /** As `--listen` named it: `127.0.0.1:3000`, `[::1]:3000`, `3000`, `unix:/run/app.sock`. */
  address: string;
  fd: number;
  /** TCP: the bound host (an IP address) and port. */
  host?: string;
  port?: number;
  /** Unix socket: its path. */
  path?: string;
}

const INSTALLED = Symbol.for('zero-downtime.listen-map');

type Listen = (this: net.Server, ...args: unknown[]) => net.Server;

const ANY_HOST = new Set(['', '0.0.0.0', '::', '[::]']);

/** The listener a call means: the same path, or the same port (the host named in --listen wins over the app's). */
function match(listeners: readonly InheritedListener[], used: ReadonlySet<InheritedListener>, wanted: ListenRequest) {
  const free = listeners.filter((listener) => !used.has(listener));
  if (wanted.path !== undefined) {
    const resolved = path.resolve(wanted.path);
    return free.find((listener) => listener.path === resolved);
  }
  if (!wanted.port) return undefined; // port 0: the app wants a port of its own
  const samePort = free.filter((listener) => listener.port === wanted.port);
  const host = wanted.host?.replace(/^\[|\]$/g, '');
  return samePort.find((listener) => host !== undefined && !ANY_HOST.has(host) && listener.host === host) ?? samePort[0];
}

/**
 * Listens on the inherited descriptor in this process. A listen({ fd }) in a cluster worker is sent to the
 * primary, whose descriptor table the number would be read from; made as the primary makes it, it opens this
 * process's own descriptor (TCP and Unix sockets alike, Node 20, 22 and 24).
 */
function listenOnDescriptor(listen: Listen, server: net.Server, fd: number, callback: unknown): void {
  const clusterModule = cluster as { isPrimary: boolean };
  const wasPrimary = clusterModule.isPrimary;
  clusterModule.isPrimary = true;
  try {
    if (clusterModule.isPrimary !== true) throw new Error('node:cluster.isPrimary cannot be set: this Node.js cannot listen on an inherited descriptor');
    listen.call(server, { fd }, ...(typeof callback === 'function' ? [callback] : []));
  } finally {
    clusterModule.isPrimary = wasPrimary;
  }
}

export function parseListenFds(text: string | undefined): InheritedListener[] {
  if (!text) return [];
  const parsed = JSON.parse(text) as unknown;
  if (!Array.isArray(parsed)) throw new Error('ZDT_LISTEN_FDS is not a JSON array');
  return parsed.filter((item): item is InheritedListener => typeof item === 'object' && item !== null && typeof (item as InheritedListener).fd === 'number');
}

/**
 * Wraps net.Server.prototype.listen once per process. Each inherited socket serves one listen(); a second listen()
 * on the same address goes to node as usual (and fails with EADDRINUSE, as it would anywhere). Returns the servers
 * listening on inherited sockets, for `closeOnDisconnect`.
 */
export function installListenMap(listeners: readonly InheritedListener[]): Set<net.Server> {
  const store = globalThis as unknown as Record<symbol, Set<net.Server> | undefined>;
  const existing = store[INSTALLED];
  if (existing) return existing;
  const servers = new Set<net.Server>();
  store[INSTALLED] = servers;
  if (listeners.length === 0) return servers;
  const used = new Set<InheritedListener>();
  const original = net.Server.prototype.listen as unknown as Listen;
  const mapped = function listen(this: net.Server, ...args: unknown[]): net.Server {
    const wanted = requestedAddress(args);
    const listener = wanted && match(listeners, used, wanted);
    if (!listener) return original.apply(this, args);
    used.add(listener);
    servers.add(this);
    this.once('close', () => servers.delete(this));
    this.once('listening', () => {
      const bound = this.address();
      const message: ListeningMessage = {
        zdt: 'listening',
        listener: listener.address,
        address: typeof bound === 'object' && bound !== null ? bound.address : (listener.path ?? String(bound)),
        port: typeof bound === 'object' && bound !== null ? bound.port : -1,
      };
      sendToPrimary(message);
    });
    const callback = [...args].reverse().find((arg) => typeof arg === 'function');
    listenOnDescriptor(original, this, listener.fd, callback);
    return this;
  };
  net.Server.prototype.listen = mapped as unknown as typeof net.Server.prototype.listen;
  return servers;
}

/**
 * Without the worker side (`autoDrain: false`), what node:cluster does for the servers it knows on
 * `worker.disconnect()`: close them, so the worker exits once its connections are done. Cluster does not know the
 * servers listening on inherited sockets.
 */
export function closeOnDisconnect(servers: Set<net.Server>): void {
  process.once('disconnect', () => {
    for (const server of servers) server.close();
  });
}
