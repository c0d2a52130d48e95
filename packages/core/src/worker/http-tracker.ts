import { executionAsyncResource } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import { markConnectionClose } from './http1-drain.js';
import type { HttpSocket } from './node-internals.js';
import { ManagedServer, isHttp2Server, type ManagedHttpServer, type OnCloseCalled, type ServerDrainResult } from './server-drain.js';
import type { HeldRelease } from './held-release.js';

interface RequestChannelMessage {
  request: IncomingMessage;
  response: ServerResponse;
  socket: Socket;
  server: ManagedHttpServer;
}

/** A server's listen() (Node 20.19+ and 22+): servers are found here before any connection. */
export const LISTEN_CHANNEL = 'tracing:net.server.listen:asyncStart';
const REQUEST_START_CHANNEL = 'http.server.request.start';
const RESPONSE_FINISH_CHANNEL = 'http.server.response.finish';

/** An http(s) server in Node >= 18.2. */
function isHttpServer(value: unknown): value is ManagedHttpServer {
  const candidate = value as Partial<ManagedHttpServer> | null | undefined;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    !isHttp2Server(candidate) &&
    typeof candidate.closeIdleConnections === 'function' &&
    typeof candidate.closeAllConnections === 'function'
  );
}

/** A server the drain knows how to handle: http(s) in Node >= 18.2, or HTTP/2 (its sessions are followed). */
export function isManagedServer(value: unknown): value is ManagedHttpServer {
  return isHttpServer(value) || isHttp2Server(value);
}

/**
 * Every http(s) server of the process, found through `diagnostics_channel` (a server is drained even if nothing
 * passed it to `manageServer()`), and the process-wide side of their drain: stop listening on all of them, wait
 * until all are closed.
 *
 * Nothing here runs per request until a drain starts: servers are found at their listen() or connection, and
 * connections are followed one by one ('net.server.socket'). The request channels are subscribed to only from the
 * drain's start (or while the app closes one server), to mark every response `Connection: close` and count what
 * finishes; an idle server pays nothing for them.
 */
export class HttpTracker {
  private readonly servers = new Map<ManagedHttpServer, ManagedServer>();
  /** Set once listening stopped for the process drain: servers found afterwards join it at once. */
  /** lastClose: this process's stop closes the listening sockets for good (quiet-close.ts, held-release.ts). */
  private processDrain: { deadlineAt: number; idleGraceMs: number; lastClose: HeldRelease | undefined } | undefined;
  private followingRequests = false;
  /** Servers the app is closing one at a time (not a process drain): requests are followed while any is. */
  private serversClosing = 0;

  /**
   * `draining`: responses carry `Connection: close` from the drain start on. `onCloseCalled`: something called
   * `close(cb)` on a managed server; the coordinator decides between a process drain and closing that server.
   */
  constructor(
    private readonly draining: () => boolean,
    private readonly onCloseCalled: OnCloseCalled,
  ) {}

  private readonly onNetSocket = (message: unknown): void => {
    const socket = (message as { socket: Socket & { server?: unknown } }).socket;
    const server = socket.server;
    if (!isManagedServer(server)) return;
    const managed = this.manage(server, true);
    // HTTP/2: the server's 'session' event follows the connection.
    if (managed.http2) return;
    // tls wraps this raw socket; the managed server follows the wrapping socket from 'secureConnection'.
    if (!managed.tls) managed.trackConnection(socket);
  };

  /** Subscribed to only while draining. */
  private readonly onRequestStart = (message: unknown): void => {
    const { request, response, socket, server } = message as RequestChannelMessage;
    // HTTP/1.1 on a secure HTTP/2 server with allowHTTP1 comes through here too.
    if (!isManagedServer(server)) return;
    const managed = this.manage(server, false);
    if (this.draining() || managed.closing) managed.requestStarted(socket, request, response);
  };

  /** Subscribed to only while draining. */
  private readonly onResponseFinish = (message: unknown): void => {
    const { socket, server } = message as RequestChannelMessage;
    this.servers.get(server)?.responseFinished(socket);
  };

  /** A server is managed from its listen() on, before any connection: a drain then finds every listening server. */
  private readonly onListen = (message: unknown): void => {
    const server = (message as { server?: unknown }).server;
    if (isManagedServer(server)) this.manage(server, true);
  };

  subscribe(): void {
    // Node 20.19+ and 22+ trace listen(); where it is missing, servers are found at their first connection instead.
    diagnosticsChannel.subscribe(LISTEN_CHANNEL, this.onListen);
    diagnosticsChannel.subscribe('net.server.socket', this.onNetSocket);
  }

  unsubscribe(): void {
    diagnosticsChannel.unsubscribe(LISTEN_CHANNEL, this.onListen);
    diagnosticsChannel.unsubscribe('net.server.socket', this.onNetSocket);
    this.followRequests(false);
  }

  /** From the drain start (or while one server closes) to the end: the per-request work the drain needs. */
  followRequests(on: boolean): void {
    if (on === this.followingRequests) return;
    this.followingRequests = on;
    if (on) {
      diagnosticsChannel.subscribe(REQUEST_START_CHANNEL, this.onRequestStart);
      diagnosticsChannel.subscribe(RESPONSE_FINISH_CHANNEL, this.onResponseFinish);
    } else {
      diagnosticsChannel.unsubscribe(REQUEST_START_CHANNEL, this.onRequestStart);
      diagnosticsChannel.unsubscribe(RESPONSE_FINISH_CHANNEL, this.onResponseFinish);
    }
  }

  get size(): number {
    return this.servers.size;
  }

  manage(server: ManagedHttpServer, fullyTracked: boolean): ManagedServer {
    let managed = this.servers.get(server);
    if (managed) return managed;
    managed = new ManagedServer(server, fullyTracked, this.onCloseCalled);
    this.servers.set(server, managed);
    if (this.processDrain) managed.beginClose(this.processDrain.deadlineAt, this.processDrain.idleGraceMs, this.processDrain.lastClose);
    return managed;
  }

  /** Sets `Connection: close` on a response when the process or the response's server is draining. */
  markResponse(response: ServerResponse): void {
    const server = (response.socket as (Socket & { server?: ManagedHttpServer }) | null)?.server;
    const managed = server ? this.servers.get(server) : undefined;
    if (managed && (this.draining() || managed.closing)) managed.markClose(response);
    else if (this.draining()) markConnectionClose(response);
  }

  /**
   * The request whose handler threw synchronously would never be answered and its connection's parser is left
   * broken: answer 500 and close that connection, so the drain does not wait for it until the deadline. Called from
   * the 'uncaughtException' listener, still inside the async context the exception was thrown in: for a request
   * handler (and a request body's callbacks) that is node's HTTPServerAsyncResource of the connection, whose parser
   * holds the request it was dispatching. Nothing is recorded per request to find it.
   */
  answerFailedRequest(): void {
    const resource = executionAsyncResource() as { socket?: unknown } | undefined;
    const socket = resource?.socket as HttpSocket | undefined;
    if (typeof socket !== 'object' || socket === null) return;
    const request = socket.parser?.incoming;
    const response = socket._httpMessage;
    if (!request || !response || typeof response.setHeader !== 'function') return;
    if (response.req !== request) {
      // Pipelined behind a response still being written: that one goes out, then the connection ends.
      if (!response.headersSent) markConnectionClose(response);
      else response.once('finish', () => socket.end());
      return;
    }
    if (response.headersSent || response.writableEnded) return;
    try {
      markConnectionClose(response);
      response.statusCode = 500;
      response.setHeader('content-type', 'text/plain; charset=utf-8');
      response.end('Internal Server Error');
    } catch {
      response.destroy();
    }
  }

  /** The process drain: every server, known now or found later, stops listening and closes by `deadlineAt`. */
  stopListening(deadlineAt: number, idleGraceMs: number, lastClose: HeldRelease | undefined): void {
    this.processDrain = { deadlineAt, idleGraceMs, lastClose };
    this.followRequests(true);
    for (const managed of this.servers.values()) managed.beginClose(deadlineAt, idleGraceMs, lastClose);
    lastClose?.seal();
  }

  /** Upgraded sockets and event streams open right now, on every server. */
  longLived(): Set<Socket | ServerResponse | ServerHttp2Stream> {
    const found = new Set<Socket | ServerResponse | ServerHttp2Stream>();
    for (const managed of this.servers.values()) for (const exchange of managed.longLived()) found.add(exchange);
    return found;
  }

  /** Resolves once every server has closed, the ones found while waiting (a request on one not seen yet) included. */
  async whenAllClosed(): Promise<ServerDrainResult> {
    let settled: ManagedServer[] = [];
    let results: ServerDrainResult[] = [];
    while (settled.length < this.servers.size) {
      settled = [...this.servers.values()];
      results = await Promise.all(settled.map((managed) => managed.whenClosed()));
    }
    const total = (field: keyof ServerDrainResult) => results.reduce((sum, result) => sum + result[field], 0);
    return {
      cut: total('cut'),
      cutLongLived: total('cutLongLived'),
      served: total('served'),
      inFlightAtStart: total('inFlightAtStart'),
      idleClosed: total('idleClosed'),
      unprocessed: total('unprocessed'),
    };
  }

  /**
   * The app (or a test helper) closing one server while the process is not draining: no grace for idle sockets, as
   * with node's own close. Once closed the server gets its own close and emit back, so a later listen starts fresh.
   */
  closeOne(managed: ManagedServer, deadlineAt: number, callback: ((error?: Error) => void) | undefined): void {
    const alreadyClosing = managed.closing;
    if (!alreadyClosing) {
      this.serversClosing += 1;
      this.followRequests(true);
    }
    managed.beginClose(deadlineAt, 0);
    void managed.whenClosed().then(() => {
      if (!alreadyClosing) {
        this.serversClosing -= 1;
        if (this.serversClosing === 0 && !this.draining() && !this.processDrain) this.followRequests(false);
      }
      if (!this.draining() && this.servers.get(managed.server) === managed) {
        this.servers.delete(managed.server);
        managed.release();
      }
      callback?.();
    });
  }
}
