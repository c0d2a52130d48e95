/**
 * Sticky routing in the supervisor (`--sticky sid|ip`). A worker's `listen(PORT)` reaches the supervisor as
 * `sticky:listen` (worker/sticky.ts); the supervisor binds that address once, for every worker, and accepts on it
 * itself. For each connection it reads the request line, picks the worker (placement.ts), and hands the socket over
 * with the bytes it read (`sticky:connection`, the socket as the IPC message's handle); the worker puts them back in
 * front of the stream and gives the socket to the app's server. The connection then belongs to that worker: its
 * other keep-alive requests, and a WebSocket after an upgrade, never pass through the supervisor again.
 *
 * Why the supervisor binds the app's port itself rather than requiring `--listen`: `zdt start --sticky sid app.js`
 * should work as the app is written (`listen(3000)`), the way node:cluster shares a worker's port; and a socket from
 * `--listen` is inherited by workers that accept on it themselves, which sticky routing must not let them do.
 * `--listen` with `--sticky` is therefore refused for now, and so is `zdt upgrade` (as without `--listen`).
 */
import net from 'node:net';
import type { Logger } from '../../logger.js';
import type { StickyListeningMessage, StickyListenMessage, StickySessionMessage } from '../../protocol.js';
import type { WorkerHandle } from '../workers/handle.js';
import type { StickyMode } from '../../settings/connections.js';
import { Placement } from './placement.js';
import { requestLineComplete, sessionIdOf, startsWithTls } from './request-line.js';

/** A connection whose request line has not come by then is handed over with what came (the worker's server times it out). */
const REQUEST_LINE_TIMEOUT_MS = 10_000;
/** A connection waiting for a ready worker (none is, e.g. all crashed at once) waits this long, then is closed. */
const WAIT_FOR_READY_MS = 30_000;

interface Waiting {
  socket: net.Socket;
  key: string;
  head: Buffer;
  timer: NodeJS.Timeout;
}

/**
 * Stops the supervisor's own reads before the socket is sent. Node has no public call for it: pause() only stops
 * emitting, the descriptor is still read into the stream's buffer, and once child_process has sent the socket it sets
 * the handle's onread to a no-op until the worker acknowledges it, so bytes read in between would be dropped. The
 * handle's readStop() is what node's own pause() calls on sockets with an `onread` buffer (net.js, the same in Node
 * 20, 22 and 24); a Node without it only keeps that narrow window.
 */
function stopReading(socket: net.Socket): Buffer[] {
  socket.pause();
  const late: Buffer[] = [];
  for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) late.push(chunk);
  (socket as net.Socket & { _handle?: { readStop?: () => number } })._handle?.readStop?.();
  return late;
}

export class StickyRouter {
  private readonly placement: Placement;
  /** The bound addresses, by key (`host:port` as the app asked, port 0 included: every worker shares it). */
  private readonly servers = new Map<string, Promise<net.Server>>();
  private readonly waiting = new Set<Waiting>();
  private warnedUnknownSession = false;
  private warnedTls = false;
  private sessionsReported = false;

  constructor(
    mode: StickyMode,
    private readonly handles: () => Iterable<WorkerHandle>,
    private readonly log: () => Logger,
  ) {
    this.placement = new Placement(
      mode,
      () => [...this.handles()].filter((handle) => handle.state === 'ready').sort((a, b) => a.id - b.id),
      (pid) => [...this.handles()].find((handle) => handle.pid === pid && handle.isAlive),
    );
  }

  /** Follows one worker from its fork: its listens, its sessions, its readiness, its exit. */
  attach(handle: WorkerHandle): void {
    handle.on('message', (message) => {
      const verb = (message as { zdt: string }).zdt;
      if (verb === 'sticky:listen') void this.listen(handle, message as unknown as StickyListenMessage);
      else if (verb === 'sticky:session') this.session(handle, message as unknown as StickySessionMessage);
    });
    handle.on('state', ({ to }) => {
      if (to === 'ready') this.flushWaiting();
    });
    handle.once('exit', () => this.placement.forget(handle));
  }

  close(): void {
    for (const server of this.servers.values()) void server.then((bound) => bound.close(), () => {});
    for (const entry of this.waiting) {
      clearTimeout(entry.timer);
      entry.socket.destroy();
    }
    this.waiting.clear();
  }

  private session(handle: WorkerHandle, message: StickySessionMessage): void {
    this.sessionsReported = true;
    if (message.open) this.placement.sessionOpened(handle, message.sid);
    else this.placement.sessionClosed(handle, message.sid);
  }

  private async listen(handle: WorkerHandle, message: StickyListenMessage): Promise<void> {
    const key = `${message.host ?? ''}:${message.port}`;
    let bound = this.servers.get(key);
    if (!bound) {
      bound = this.bind(key, message.host, message.port);
      this.servers.set(key, bound);
    }
    let answer: StickyListeningMessage;
    try {
      const address = (await bound).address() as net.AddressInfo;
      answer = { zdt: 'sticky:listening', requestId: message.requestId, key, address: { address: address.address, family: address.family, port: address.port } };
    } catch (error) {
      this.servers.delete(key);
      const { code = 'EINVAL', message: text } = error as NodeJS.ErrnoException;
      answer = { zdt: 'sticky:listening', requestId: message.requestId, error: { code, message: text } };
    }
    handle.sendRaw(answer);
  }

  private bind(key: string, host: string | undefined, port: number): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.readRequestLine(socket, key));
      server.once('error', reject);
      server.listen({ port, ...(host === undefined ? {} : { host }) }, () => {
        server.off('error', reject);
        server.on('error', (error) => this.log().error({ err: error, key }, `sticky listener ${key}: ${error.message}`));
        const address = server.address() as net.AddressInfo;
        this.log().info({ address: address.address, port: address.port }, `sticky routing: the supervisor accepts on ${address.address}:${address.port} and hands each connection to its session's worker`);
        resolve(server);
      });
    });
  }

  private readRequestLine(socket: net.Socket, key: string): void {
    const chunks: Buffer[] = [];
    // The client may reset before the hand-over; after it, the socket is the worker's.
    socket.on('error', () => {});
    const finish = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      chunks.push(...stopReading(socket));
      this.route(socket, key, Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      if (requestLineComplete(chunks.length === 1 ? chunk : Buffer.concat(chunks))) finish();
    };
    const onEnd = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    const timer = setTimeout(finish, REQUEST_LINE_TIMEOUT_MS);
    timer.unref();
    socket.on('data', onData);
    socket.once('end', onEnd);
  }

  private route(socket: net.Socket, key: string, head: Buffer): void {
    if (socket.destroyed) return;
    const tls = startsWithTls(head);
    const sid = tls ? undefined : sessionIdOf(head);
    const handle = this.placement.place(sid, socket.remoteAddress ?? '', tls);
    if (tls && this.placement.mode === 'sid' && !this.warnedTls) {
      this.warnedTls = true;
      this.log().warn(
        { key },
        `sticky routing: connections to ${key} start with TLS, so their session id cannot be read; they are routed by client address (as --sticky ip) until TLS ends in front of zdt (a proxy or load balancer)`,
      );
    }
    if (sid !== undefined && !this.sessionsReported && !this.warnedUnknownSession) {
      this.warnedUnknownSession = true;
      this.log().warn({ sid }, 'sticky routing: requests name engine.io sessions that no worker reported; call manageSocketIo(io) from @zero-downtime/core/worker in the app');
    }
    if (!handle) {
      const entry: Waiting = { socket, key, head, timer: setTimeout(() => this.giveUp(entry), WAIT_FOR_READY_MS) };
      entry.timer.unref();
      this.waiting.add(entry);
      return;
    }
    handle.sendRaw({ zdt: 'sticky:connection', key, head: head.toString('base64') }, socket, (error) => {
      if (error) socket.destroy();
    });
  }

  private giveUp(entry: Waiting): void {
    this.waiting.delete(entry);
    entry.socket.destroy();
  }

  private flushWaiting(): void {
    const entries = [...this.waiting];
    this.waiting.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      this.route(entry.socket, entry.key, entry.head);
    }
  }
}
