/**
 * The HTTP/1.1 side of a managed server's drain: its connections (one set entry per connection, nothing per request
 * before a drain), where `Connection: close` goes, which requests reach the app once it went out, and the idle sweep.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { connectionsList, endsConnection, isUpgraded, sentHeaderBlock, type HttpSocket } from './node-internals.js';

const SSE_CONTENT_TYPE = /^\s*text\/event-stream/i;
const SSE_HEADER_LINE = /\r\ncontent-type:\s*text\/event-stream/i;
const CLOSE_VALUE = /(?:^|,)\s*close\s*(?:,|$)/i;
/** The events node:http hands a parsed request to the app with. */
const REQUEST_EVENTS = new Set<string | symbol>(['request', 'checkContinue', 'checkExpectation']);

/** A content type of server-sent events, on HTTP/1.1 and HTTP/2 alike. */
export function isEventStreamType(contentType: unknown): boolean {
  return typeof contentType === 'string' && SSE_CONTENT_TYPE.test(contentType);
}

export function isEventStream(response: ServerResponse): boolean {
  const contentType = response.getHeader('content-type');
  if (typeof contentType === 'string') return isEventStreamType(contentType);
  const sent = sentHeaderBlock(response);
  return sent !== undefined && SSE_HEADER_LINE.test(sent);
}

/** Marks a response so node sends `Connection: close` and ends the socket after it. */
export function markConnectionClose(response: ServerResponse): void {
  if (response.headersSent) return;
  response.shouldKeepAlive = false;
  response.setHeader('Connection', 'close');
}

/** From the drain start on: when a connection last became idle, and how many bytes it had read then. */
interface IdleMark {
  since: number;
  bytesRead: number;
}

/** Counts of one server's HTTP/1.1 drain. */
export interface Http1Counts {
  served: number;
  cut: number;
  cutLongLived: number;
  inFlightAtStart: number;
  idleClosed: number;
  unprocessed: number;
}

/**
 * During a drain `Connection: close` goes on the newest response of each connection, never on one with pipelined
 * requests queued behind it: node ends the socket after that response and would drop the answers queued behind
 * (the app processed those requests). A request that arrives once the closing response's headers are out is never
 * handed to the app (RFC 9112 9.6): the client sees the connection close after that answer, knows the request was
 * not processed, and may send it again. Those are counted as `unprocessed`.
 */
export class Http1Drain {
  readonly counts: Http1Counts = { served: 0, cut: 0, cutLongLived: 0, inFlightAtStart: 0, idleClosed: 0, unprocessed: 0 };
  /** Sockets seen from their start: plain http at their connection, https at 'secureConnection'. */
  readonly connections = new Set<HttpSocket>();
  /** Only while closing. */
  private readonly idleMarks = new Map<HttpSocket, IdleMark>();
  /** Only while closing: the newest response of each connection. */
  private readonly newest = new WeakMap<Socket, ServerResponse>();
  /** Responses marked `Connection: close` by the drain, with the keep-alive node had decided for them. */
  private readonly marked = new WeakMap<ServerResponse, boolean>();
  /** Requests parsed after their connection's closing answer went out: never handed to the app. */
  private readonly held = new WeakSet<IncomingMessage>();
  private emitDescriptor: PropertyDescriptor | undefined | null = null;
  private closingSince: number | undefined;
  private graceEnded = false;
  /** One listener for every socket's 'close' (`this` is the socket): no closure per connection. */
  private readonly forget: (this: HttpSocket) => void;

  constructor(
    private readonly server: HttpServer,
    onConnectionGone: () => void,
  ) {
    const drain = this;
    this.forget = function forget(this: HttpSocket) {
      drain.connections.delete(this);
      drain.idleMarks.delete(this);
      onConnectionGone();
    };
  }

  track(socket: Socket): void {
    if (this.connections.has(socket)) return;
    this.connections.add(socket);
    socket.on('close', this.forget);
    if (this.closingSince !== undefined) this.markIdle(socket, Date.now());
  }

  /**
   * During a drain (or while this server closes): a request was parsed. Either it is held back from the app (its
   * connection's closing answer is already out) or it becomes the connection's last: `Connection: close` moves to
   * its response from the one before it, whose headers are not out yet.
   */
  requestParsed(socket: HttpSocket, request: IncomingMessage, response: ServerResponse): void {
    const previous = this.newest.get(socket) ?? socket._httpMessage ?? undefined;
    if (previous && previous !== response && (endsConnection(previous) || this.appCloses(previous))) {
      this.hold(request);
      return;
    }
    if (previous && previous !== response) this.unmark(previous);
    this.newest.set(socket, response);
    this.mark(response);
  }

  /** A response went out during the drain; its connection is idle from now unless another request is queued. */
  responseFinished(socket: Socket): void {
    this.counts.served += 1;
    if (this.connections.has(socket)) this.markIdle(socket, Date.now());
  }

  /**
   * Marks a response so node sends `Connection: close` and ends the socket after it. Only node's own keep-alive
   * decision is changed (no header is set), so that moving the mark to a later response gives this one back exactly
   * the headers node would have written.
   */
  mark(response: ServerResponse): void {
    if (response.headersSent || this.marked.has(response)) return;
    this.marked.set(response, response.shouldKeepAlive);
    response.shouldKeepAlive = false;
  }

  private unmark(response: ServerResponse): void {
    const keepAlive = this.marked.get(response);
    if (keepAlive === undefined || response.headersSent) return;
    this.marked.delete(response);
    response.shouldKeepAlive = keepAlive;
  }

  /** The app set `Connection: close` itself on a response not yet sent: node ends the connection after it. */
  private appCloses(response: ServerResponse): boolean {
    const value = response.getHeader('connection');
    return typeof value === 'string' && CLOSE_VALUE.test(value);
  }

  /**
   * node hands a parsed request to the app by emitting it on the server; a held one is not emitted. The server's
   * emit is wrapped only once a request is held, and given back by `release()`.
   */
  private hold(request: IncomingMessage): void {
    this.held.add(request);
    this.counts.unprocessed += 1;
    if (this.emitDescriptor !== null) return;
    this.emitDescriptor = Object.getOwnPropertyDescriptor(this.server, 'emit');
    const emit = this.server.emit;
    const held = this.held;
    this.server.emit = function emitUnlessHeld(this: HttpServer, event: string | symbol, ...args: unknown[]) {
      if (REQUEST_EVENTS.has(event) && held.has(args[0] as IncomingMessage)) return true;
      return emit.apply(this, [event, ...args] as Parameters<HttpServer['emit']>);
    } as HttpServer['emit'];
  }

  private markIdle(socket: Socket, now: number): void {
    this.idleMarks.set(socket, { since: now, bytesRead: socket.bytesRead });
  }

  /** The drain starts: every connection is idle from now unless busy; requests in flight end their connection. */
  beginClose(now: number, partiallyTracked: boolean): void {
    this.closingSince = now;
    // Connections opened before the server was managed are in node's own list, unless upgraded.
    if (partiallyTracked) for (const { socket } of connectionsList(this.server)?.all() ?? []) if (socket) this.track(socket);
    for (const socket of this.connections) {
      this.markIdle(socket, now);
      const response = socket._httpMessage;
      if (!response || isUpgraded(socket)) continue;
      this.counts.inFlightAtStart += 1;
      // Pipelined requests parsed behind it (the parser moved past it): their answers are unreachable here, so they
      // are all answered and the connection closes once idle, after its grace, or at their next request's answer.
      const parsed = socket.parser?.incoming;
      if (!parsed || parsed === response.req) {
        this.newest.set(socket, response);
        this.mark(response);
      }
    }
  }

  /**
   * Destroys sockets idle for the whole grace period (counted from when the drain started or they became idle).
   * Idle as node's `closeIdleConnections()` means it: no response being written and no request being received
   * (node's list, where it exists; else: no byte read since the socket became idle).
   */
  sweepIdle(now: number, idleGraceMs: number, partiallyTracked: boolean): void {
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
      if (now - Math.max(mark.since, closingSince) >= idleGraceMs) {
        this.counts.idleClosed += 1;
        socket.destroy();
      }
    }
    if (!this.graceEnded && now - closingSince >= idleGraceMs) {
      this.graceEnded = true;
      // Connections never seen (opened before the server was managed) are reachable only through the server's own
      // list: close the ones node knows are idle, once.
      if (partiallyTracked) this.server.closeIdleConnections();
    }
  }

  /** The deadline: everything left is destroyed; connections with a request or a long-lived exchange count as cut. */
  cutRemaining(partiallyTracked: boolean): void {
    for (const socket of this.connections) {
      const upgraded = isUpgraded(socket);
      const response = socket._httpMessage;
      if (upgraded || response) this.counts.cut += 1;
      if (upgraded || (response && isEventStream(response))) this.counts.cutLongLived += 1;
      socket.destroy();
    }
    if (partiallyTracked) this.server.closeAllConnections();
  }

  /** Upgraded sockets and event streams open right now. */
  longLived(): Array<Socket | ServerResponse> {
    const found: Array<Socket | ServerResponse> = [];
    for (const socket of this.connections) {
      if (isUpgraded(socket)) found.push(socket);
      else if (socket._httpMessage && isEventStream(socket._httpMessage)) found.push(socket._httpMessage);
    }
    return found;
  }

  /** Stops following connections; gives the server back its own emit. */
  release(): void {
    for (const socket of this.connections) socket.off('close', this.forget);
    this.connections.clear();
    if (this.emitDescriptor === null) return;
    if (this.emitDescriptor) Object.defineProperty(this.server, 'emit', this.emitDescriptor);
    else delete (this.server as { emit?: unknown }).emit;
    this.emitDescriptor = null;
  }
}
