/**
 * The worker's side of sticky routing (`zdt start --sticky sid|ip`), installed by the preload when `ZDT_STICKY` is
 * set. The supervisor accepts every connection itself, reads the request line, and hands the socket to the worker
 * that holds the session (primary/sticky/). Here:
 * - the app's `listen(PORT[, HOST])` is asked of the supervisor (`sticky:listen`), which binds that address once for
 *   every worker. The server itself then listens on a private socket of this process that nobody connects to (an
 *   abstract Unix socket on Linux, `exclusive` so node:cluster is not involved): everything Node does for a listening
 *   server holds ('listening', `close()`, the drain finding it), and its `address()` answers the supervisor's address;
 * - a connection handed over (`sticky:connection`, the socket as the message's handle) gets the bytes the supervisor
 *   already read put back in front of its stream, then enters the server as an accepted one would.
 *
 * Why this holds on Node 20, 22 and 24 without internals: `socket.unshift()` returns bytes to a readable stream's
 * buffer (public, stable since 0.x); an http server's `'connection'` event is its documented entry for a socket
 * accepted elsewhere, and the parser it attaches reads the buffered bytes before any new ones (it starts the stream
 * flowing on the next tick, before any read from the descriptor). The `net.server.socket` diagnostics channel, which
 * node publishes for an accepted socket and the drain follows, is published here by name, a public API too. What
 * node's accept also does has no public API and is copied: `socket.server` (the http server's error path reads it)
 * and the server's connection count (see accept()).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import cluster from 'node:cluster';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { StickyConnectionMessage, StickyListeningMessage } from '../protocol.js';
import { isExclusiveListen, requestedAddress } from './listen-args.js';
import { sendToPrimary } from './primary-channel.js';

const INSTALLED = Symbol.for('zero-downtime.sticky');
const socketChannel = diagnosticsChannel.channel('net.server.socket');

type Listen = (this: net.Server, ...args: unknown[]) => net.Server;

/** A TCP listen() the supervisor should take: a port (0 too, shared by every worker, as node:cluster does), and a host. */
function tcpRequest(args: unknown[]): { port: number; host?: string } | undefined {
  const wanted = requestedAddress(args);
  if (wanted?.port === undefined || isExclusiveListen(args)) return undefined;
  return { port: wanted.port, ...(wanted.host === undefined ? {} : { host: wanted.host }) };
}

let privateNames = 0;

/** Where a sticky server listens in this process: an abstract socket on Linux (no file), a temporary path elsewhere. */
function privateSocketPath(): string {
  const name = `zdt-sticky-${process.pid}-${++privateNames}`;
  return process.platform === 'linux' ? `\0${name}` : path.join(os.tmpdir(), `${name}.sock`);
}

/** A listen error as node raises it, from the supervisor's answer. */
function listenError(answer: NonNullable<StickyListeningMessage['error']>, request: { port: number; host?: string }): Error {
  return Object.assign(new Error(`listen ${answer.code}: ${answer.message}`), {
    code: answer.code,
    errno: answer.code,
    syscall: 'listen',
    address: request.host ?? '::',
    port: request.port,
  });
}

/** The sticky servers of this process, by the supervisor's key. */
const servers = new Map<string, net.Server>();
const pending = new Map<number, (answer: StickyListeningMessage) => void>();
let requests = 0;

/** Hands a connection to its server: the bytes read by the supervisor first, then the socket as if accepted here. */
function accept(message: StickyConnectionMessage, socket: net.Socket | undefined): void {
  if (!socket) return;
  const server = servers.get(message.key);
  if (!server) {
    socket.destroy();
    return;
  }
  const head = Buffer.from(message.head, 'base64');
  if (head.length > 0) socket.unshift(head);
  // As node's own accept does (net.js onconnection, the same in Node 20, 22 and 24): the server counts the connection
  // until the socket is destroyed, so its 'close' waits for it. Without the count a closed sticky server would emit
  // 'close' at once, and engine.io closes every session on its http server's 'close'.
  const accepted = socket as net.Socket & { server?: net.Server; _server?: net.Server };
  const counted = server as net.Server & { _connections?: number };
  accepted.server = server;
  if (typeof counted._connections === 'number') {
    counted._connections += 1;
    accepted._server = server;
  }
  if (socketChannel.hasSubscribers) socketChannel.publish({ socket });
  server.emit('connection', socket);
}

function onMessage(message: unknown, handle: unknown): void {
  if (typeof message !== 'object' || message === null) return;
  const verb = (message as { zdt?: unknown }).zdt;
  if (verb === 'sticky:connection') accept(message as StickyConnectionMessage, handle as net.Socket | undefined);
  else if (verb === 'sticky:listening') {
    const answer = message as StickyListeningMessage;
    pending.get(answer.requestId)?.(answer);
    pending.delete(answer.requestId);
  }
}

/** Asks the supervisor for the address; on its answer, listens privately with the app's callback. */
function listenThroughSupervisor(original: Listen, server: net.Server, request: { port: number; host?: string }, callback: unknown): void {
  const requestId = ++requests;
  if (pending.size === 0 && servers.size === 0) process.on('message', onMessage);
  pending.set(requestId, (answer) => {
    if (answer.error || !answer.key || !answer.address) {
      server.emit('error', listenError(answer.error ?? { code: 'EINVAL', message: 'no answer' }, request));
      return;
    }
    const { key, address } = answer;
    // Kept after close(): while the worker drains, the supervisor still hands it the requests of its open sessions.
    servers.set(key, server);
    // What the app reads: the supervisor's address, where its clients connect.
    server.address = () => ({ ...address });
    server.once('listening', () => sendToPrimary({ zdt: 'listening', listener: `sticky ${key}`, address: address.address, port: address.port }));
    original.call(server, { path: privateSocketPath(), exclusive: true }, ...(typeof callback === 'function' ? [callback] : []));
  });
  sendToPrimary({ zdt: 'sticky:listen', requestId, port: request.port, ...(request.host === undefined ? {} : { host: request.host }) });
}

/**
 * Wraps net.Server.prototype.listen once per process, in a cluster worker only: each TCP listen() goes to the
 * supervisor; paths, descriptors and `exclusive` listens go to node as usual.
 */
export function installSticky(): void {
  const store = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (store[INSTALLED] || !cluster.isWorker) return;
  store[INSTALLED] = true;
  const original = net.Server.prototype.listen as unknown as Listen;
  const sticky = function listen(this: net.Server, ...args: unknown[]): net.Server {
    const request = tcpRequest(args);
    if (!request) return original.apply(this, args);
    const callback = [...args].reverse().find((arg) => typeof arg === 'function');
    listenThroughSupervisor(original, this, request, callback);
    return this;
  };
  net.Server.prototype.listen = sticky as unknown as typeof net.Server.prototype.listen;
}
