import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import type { Http2SecureServer, Http2Server, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';

/** http and https servers; HTTP/2 servers (`http2.createServer`, `createSecureServer`) are managed as these too. */
export type ManagedHttpServer = HttpServer | HttpsServer;

/**
 * An HTTP/2 server: `updateSettings` (Node >= 15.1), which http and https servers lack. (A secure HTTP/2 server has a
 * `closeIdleConnections` of its own in some Node versions, for its HTTP/1.1 side: that does not make it an http one.)
 */
export function isHttp2Server(value: unknown): boolean {
  const candidate = value as { updateSettings?: unknown; on?: unknown } | null | undefined;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.updateSettings === 'function' && typeof candidate.on === 'function';
}

/** Streams open on an HTTP/2 session, from node's own session state (internal: none when it cannot be read). */
function openStreams(session: ServerHttp2Session): ServerHttp2Stream[] {
  const key = Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === 'state');
  const state = key ? (session as unknown as Record<symbol, { streams?: Map<unknown, ServerHttp2Stream> } | undefined>)[key] : undefined;
  // node's own SafeMap: a Map by behaviour, not by instanceof.
  const streams = state?.streams;
  return typeof streams?.values === 'function' ? [...streams.values()] : [];
}

/** An HTTP/2 stream answered as `text/event-stream` (server-sent events). */
function isEventStream2(stream: ServerHttp2Stream): boolean {
  const contentType = (stream as ServerHttp2Stream & { sentHeaders?: Record<string, unknown> }).sentHeaders?.['content-type'];
  return typeof contentType === 'string' && SSE_CONTENT_TYPE.test(contentType);
}

/**
 * What node keeps on an http connection's socket, read only once a drain has started: nothing is recorded per
 * request before that. Both fields have been there since long before Node 18 (node's own `closeIdleConnections()`
 * reads `_httpMessage`).
 */
export interface HttpSocket extends Socket {
  /** The response being written on this connection (the first of a pipeline); unset between requests. */
  _httpMessage?: ServerResponse | null;
  /** The connection's HTTP parser (`incoming`: the request it last parsed); null once upgraded (WebSocket, CONNECT). */
  parser?: { incoming?: IncomingMessage | null } | null;
}

/** A node internal list of a server's HTTP connections by parser (`active()`: a request is being received). */
interface ConnectionsList {
  active(): Array<{ socket?: Socket }>;
  all(): Array<{ socket?: Socket }>;
}

/** From the drain start on: when a connection last became idle, and how many bytes it had read then. */
interface IdleMark {
  since: number;
  bytesRead: number;
}

export interface ServerDrainResult {
  /** Connections destroyed at the deadline with a request or a long-lived exchange still running. */
  cut: number;
  /** Of `cut`: upgraded sockets and event streams. */
  cutLongLived: number;
  served: number;
  /** Requests in flight when the drain started (one per connection: pipelined requests queued behind it are not seen). */
  inFlightAtStart: number;
  /** Idle keep-alive sockets closed after their grace period. */
  idleClosed: number;
}

/** Called when something calls `close(cb)` on the server; the runtime decides between a server and a process drain. */
export type OnCloseCalled = (managed: ManagedServer, callback: ((error?: Error) => void) | undefined) => void;

const SSE_CONTENT_TYPE = /^\s*text\/event-stream/i;
/** A stream that closed without a reset (node:http2's constants, without loading node:http2 here). */
const NGHTTP2_NO_ERROR = 0;
const SSE_HEADER_LINE = /\r\ncontent-type:\s*text\/event-stream/i;

function isEventStream(response: ServerResponse): boolean {
  const contentType = response.getHeader('content-type');
  if (typeof contentType === 'string') return SSE_CONTENT_TYPE.test(contentType);
  // writeHead(status, headers) writes the headers without keeping them for getHeader(): read what went out.
  const sent = (response as ServerResponse & { _header?: unknown })._header;
  return typeof sent === 'string' && SSE_HEADER_LINE.test(sent);
}

/** node frees a connection's parser when it hands the socket to an 'upgrade' (or 'connect') listener. */
function isUpgraded(socket: HttpSocket): boolean {
  return socket.parser === null;
}

/** A server's own value behind one of node's internal symbols (found by description; undefined when absent). */
function internal<T>(server: ManagedHttpServer, description: string): T | undefined {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === description);
  return key ? ((server as unknown as Record<symbol, T | undefined>)[key]) : undefined;
}

/**
 * node's own http close clears the interval that checks request timeouts; close() is replaced here, so clear it too,
 * or every closed server stays referenced by its timer (the symbol is internal: when absent, nothing to clear).
 */
function clearConnectionsCheck(server: ManagedHttpServer): void {
  const interval = internal<NodeJS.Timeout>(server, 'http.server.connectionsCheckingInterval');
  if (interval) clearInterval(interval);
}

function connectionsList(server: ManagedHttpServer): ConnectionsList | undefined {
  const list = internal<ConnectionsList>(server, 'http.server.connections');
  return list && typeof list.active === 'function' && typeof list.all === 'function' ? list : undefined;
}

/**
 * One managed http(s) server: follows its connections (a set, one entry per connection; nothing per request) and
 * drains it gently. What each connection is doing is read from node's own per-socket state when the drain starts
 * and while it runs. Stopping to listen uses `net.Server.prototype.close` (the http version destroys the sockets
 * idle at that instant, racing a client that is sending its next request on one); idle sockets get `idleGraceMs`,
 * busy ones finish with `Connection: close`, and whatever remains at the deadline is destroyed and counted.
 */
export class ManagedServer {
  readonly server: ManagedHttpServer;
  /** tls servers wrap the raw socket: http sees the wrapping socket, announced by 'secureConnection'. */
  readonly tls: boolean;
  /** An HTTP/2 server: its sessions are followed (from 'session') instead of its connections. */
  readonly http2: boolean;
  /** HTTP/2 sessions open on this server (one per connection); nothing per stream. */
  private readonly sessions = new Set<ServerHttp2Session>();
  /** Sockets seen from their start: plain http at their connection, https at 'secureConnection'. */
  private readonly connections = new Set<HttpSocket>();
  /** Only while closing. */
  private readonly idleMarks = new Map<HttpSocket, IdleMark>();
  /** True when some connections may be unknown (opened before the server was managed). */
  private partiallyTracked: boolean;
  private closingSince: number | undefined;
  private deadlineAt = Number.POSITIVE_INFINITY;
  private idleGraceMs = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private graceEnded = false;
  private served = 0;
  private cut = 0;
  private cutLongLived = 0;
  private inFlightAtStart = 0;
  private idleClosed = 0;
  private settled = false;
  private readonly closedWaiters: Array<(result: ServerDrainResult) => void> = [];
  private readonly originalClose: ManagedHttpServer['close'];
  /** One listener for every socket's 'close' (`this` is the socket): no closure per connection. */
  private readonly forget: (this: HttpSocket) => void;
  /** https, and HTTP/1.1 on a secure HTTP/2 server with `allowHTTP1` (its h2 connections are followed as sessions). */
  private readonly onSecureConnection = (socket: Socket & { alpnProtocol?: string | false }): void => {
    if (this.http2 && socket.alpnProtocol === 'h2') return;
    this.trackConnection(socket);
  };
  private readonly onSession = (session: ServerHttp2Session): void => this.trackSession(session);

  constructor(server: ManagedHttpServer, fullyTracked: boolean, onCloseCalled: OnCloseCalled) {
    this.server = server;
    this.tls = typeof (server as { addContext?: unknown }).addContext === 'function';
    this.http2 = isHttp2Server(server);
    // Sessions opened before an HTTP/2 server was managed are not reachable (node keeps no public list of them).
    this.partiallyTracked = !fullyTracked && !this.http2;
    this.originalClose = server.close;
    const managed = this;
    this.forget = function forget(this: HttpSocket) {
      managed.connections.delete(this);
      managed.idleMarks.delete(this);
      managed.checkDone();
    };
    // node:cluster's disconnect (and apps, and test helpers) call close(cb): start a gentle drain instead of
    // destroying idle keep-alive sockets, and call back once the connections are gone.
    server.close = function close(this: ManagedHttpServer, callback?: (error?: Error) => void) {
      if (managed.closingSince === undefined && !server.listening) {
        return managed.originalClose.call(this, callback);
      }
      onCloseCalled(managed, callback);
      return this;
    } as ManagedHttpServer['close'];
    // A listener of its own, per connection: upgrades need none (node frees the parser of an upgraded socket).
    if (this.http2) server.on('session', this.onSession);
    if (this.tls) server.on('secureConnection', this.onSecureConnection);
  }

  /** A new HTTP/2 session: followed until it closes; during a drain it gets its GOAWAY at once. */
  private trackSession(session: ServerHttp2Session): void {
    if (this.sessions.has(session)) return;
    this.sessions.add(session);
    session.once('close', () => {
      this.sessions.delete(session);
      this.checkDone();
    });
    if (this.closingSince !== undefined) this.closeSession(session);
  }

  /**
   * GOAWAY with the last stream node processed (node's `session.close()`), and the session closes once its last
   * stream ends: every stream already received is answered normally, the client opens a new session elsewhere.
   * Node offers no shutdown notice (RFC 9113's first GOAWAY with 2^31-1): a GOAWAY sent through `session.goaway()`
   * makes nghttp2 ignore every later stream, so that first phase would only delay the same refusal.
   */
  private closeSession(session: ServerHttp2Session): void {
    if (session.closed || session.destroyed) return;
    try {
      session.close();
    } catch {
      session.destroy();
    }
  }

  get closing(): boolean {
    return this.closingSince !== undefined;
  }

  /** A new connection to this server ('net.server.socket' for plain http, 'secureConnection' for https). */
  trackConnection(socket: Socket): void {
    if (this.connections.has(socket)) return;
    this.connections.add(socket);
    socket.on('close', this.forget);
    if (this.closingSince !== undefined) this.markIdle(socket, Date.now());
  }

  /** During a drain: a request on a connection not seen before (opened before the server was managed). */
  requestStarted(socket: Socket): void {
    if (this.connections.has(socket)) return;
    this.partiallyTracked = true;
    this.trackConnection(socket);
  }

  /** During a drain: a response went out; its connection is idle from now unless another request is queued. */
  responseFinished(socket: Socket): void {
    if (this.closingSince === undefined) return;
    this.served += 1;
    if (this.connections.has(socket)) this.markIdle(socket, Date.now());
  }

  private markIdle(socket: Socket, now: number): void {
    this.idleMarks.set(socket, { since: now, bytesRead: socket.bytesRead });
  }

  /** Upgraded sockets and event streams (HTTP/1.1 responses, HTTP/2 streams) open right now. */
  longLived(): Array<Socket | ServerResponse | ServerHttp2Stream> {
    const found: Array<Socket | ServerResponse | ServerHttp2Stream> = [];
    for (const socket of this.connections) {
      if (isUpgraded(socket)) found.push(socket);
      else if (socket._httpMessage && isEventStream(socket._httpMessage)) found.push(socket._httpMessage);
    }
    for (const session of this.sessions) for (const stream of openStreams(session)) if (isEventStream2(stream)) found.push(stream);
    return found;
  }

  /** Stops listening and starts the gentle drain; a second call can only move the deadline earlier. */
  beginClose(deadlineAt: number, idleGraceMs: number): void {
    if (deadlineAt < this.deadlineAt) {
      this.deadlineAt = deadlineAt;
      if (this.closingSince !== undefined && !this.settled) this.scheduleDeadline();
    }
    if (this.closingSince !== undefined) return;
    const now = Date.now();
    this.closingSince = now;
    this.idleGraceMs = idleGraceMs;
    if (this.server.listening) {
      this.server.once('close', () => this.settle());
      // Stops accepting (in a cluster worker: tells the primary to stop routing here) without touching sockets.
      NetServer.prototype.close.call(this.server);
    }
    // Connections opened before the server was managed are in node's own list, unless upgraded.
    if (this.partiallyTracked) for (const { socket } of connectionsList(this.server)?.all() ?? []) if (socket) this.trackConnection(socket);
    for (const socket of this.connections) {
      this.markIdle(socket, now);
      const response = socket._httpMessage;
      if (!response || isUpgraded(socket)) continue;
      this.inFlightAtStart += 1;
      // A request in flight whose headers are not out yet ends its connection too, unless pipelined requests are
      // queued behind it (the parser has moved past it): closing after it would drop them, so they are all answered
      // and the connection closes once idle, after its grace. RFC 9112 §9.6: nothing parsed is dropped.
      const parsed = socket.parser?.incoming;
      if (!parsed || parsed === response.req) ManagedServer.markClose(response);
    }
    for (const session of this.sessions) {
      // Counted from the drain start only: a stream that ends without a reset was served.
      for (const stream of openStreams(session)) {
        this.inFlightAtStart += 1;
        stream.once('close', () => {
          if (stream.rstCode === NGHTTP2_NO_ERROR) this.served += 1;
        });
      }
      this.closeSession(session);
    }
    this.scheduleDeadline();
    const sweepEveryMs = Math.min(Math.max(Math.floor(idleGraceMs / 4), 10), 250);
    this.sweepTimer = setInterval(() => this.sweepIdle(), sweepEveryMs);
    this.sweepTimer.unref();
    this.sweepIdle();
    this.checkDone();
  }

  whenClosed(): Promise<ServerDrainResult> {
    if (this.settled) return Promise.resolve(this.result());
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  private scheduleDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.cutRemaining(), Math.max(0, this.deadlineAt - Date.now()));
    this.deadlineTimer.unref();
  }

  /**
   * Destroys sockets idle for the whole grace period (counted from when the drain started or they became idle).
   * Idle as node's `closeIdleConnections()` means it: no response being written and no request being received
   * (node's list, where it exists; else: no byte read since the socket became idle).
   */
  private sweepIdle(): void {
    const now = Date.now();
    const closingSince = this.closingSince ?? now;
    const list = connectionsList(this.server);
    const receiving = list ? new Set(list.active().map((parser) => parser.socket)) : undefined;
    for (const socket of this.connections) {
      if (isUpgraded(socket) || socket._httpMessage || receiving?.has(socket)) continue;
      const mark = this.idleMarks.get(socket);
      if (!mark || socket.bytesRead !== mark.bytesRead) {
        // Bytes arrived since it went idle: a request may be on its way; its grace starts again.
        this.markIdle(socket, now);
        continue;
      }
      if (now - Math.max(mark.since, closingSince) >= this.idleGraceMs) {
        this.idleClosed += 1;
        socket.destroy();
      }
    }
    if (!this.graceEnded && now - closingSince >= this.idleGraceMs) {
      this.graceEnded = true;
      if (this.http2) return;
      // Connections we never saw (opened before the server was managed) can only be reached through the server's
      // own list: close the ones node knows are idle, once.
      if (this.partiallyTracked) this.server.closeIdleConnections();
    }
  }

  private cutRemaining(): void {
    if (this.settled) return;
    for (const socket of this.connections) {
      const upgraded = isUpgraded(socket);
      const response = socket._httpMessage;
      if (upgraded || response) this.cut += 1;
      if (upgraded || (response && isEventStream(response))) this.cutLongLived += 1;
      socket.destroy();
    }
    for (const session of this.sessions) {
      const streams = openStreams(session);
      if (streams.length > 0) this.cut += 1;
      if (streams.some(isEventStream2)) this.cutLongLived += 1;
      session.destroy();
    }
    if (this.partiallyTracked && !this.http2) this.server.closeAllConnections();
    // Unknown upgraded sockets could still hold the server open; the deadline is the deadline.
    this.settle();
  }

  private checkDone(): void {
    if (this.settled || this.closingSince === undefined) return;
    if (this.server.listening || this.connections.size > 0 || this.sessions.size > 0) return;
    // Unknown connections may remain: wait for the server's own 'close' (all of them gone) or the deadline.
    if (this.partiallyTracked) return;
    this.settle();
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    clearConnectionsCheck(this.server);
    const result = this.result();
    for (const resolve of this.closedWaiters.splice(0)) resolve(result);
  }

  private result(): ServerDrainResult {
    return { cut: this.cut, cutLongLived: this.cutLongLived, served: this.served, inFlightAtStart: this.inFlightAtStart, idleClosed: this.idleClosed };
  }

  /** Gives the server back its own close (after an app-initiated close, so a later listen starts fresh). */
  release(): void {
    this.server.close = this.originalClose;
    this.server.off('secureConnection', this.onSecureConnection);
    this.server.off('session' as 'close', this.onSession as () => void);
    for (const socket of this.connections) socket.off('close', this.forget);
    this.connections.clear();
  }

  /** Marks a response so node sends `Connection: close` and ends the socket after it. */
  static markClose(response: ServerResponse): void {
    if (response.headersSent) return;
    response.shouldKeepAlive = false;
    response.setHeader('Connection', 'close');
  }
}
