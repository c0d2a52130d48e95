import type { Server as HttpServer, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpsServer } from 'node:https';

export type ManagedHttpServer = HttpServer | HttpsServer;

/** What the drain knows about one connection of a managed server. */
interface ConnectionRecord {
  socket: Socket;
  /** Responses not finished yet on this socket (more than one only with pipelining). */
  responses: Set<ServerResponse>;
  /** Handed to an `upgrade` listener (WebSocket): no longer request/response. */
  upgraded: boolean;
  /** When the socket last became idle, and how many bytes it had read then (a change means a request is arriving). */
  idleSince: number;
  bytesReadWhenIdle: number;
}

export interface ServerDrainResult {
  /** Connections destroyed at the deadline with a request or a long-lived exchange still running. */
  cut: number;
  /** Of `cut`: upgraded sockets and event streams. */
  cutLongLived: number;
  served: number;
  /** Requests in flight when the drain started. */
  inFlightAtStart: number;
  /** Idle keep-alive sockets closed after their grace period. */
  idleClosed: number;
}

/** Called when something calls `close(cb)` on the server; the runtime decides between a server and a process drain. */
export type OnCloseCalled = (managed: ManagedServer, callback: ((error?: Error) => void) | undefined) => void;

const SSE_CONTENT_TYPE = /^\s*text\/event-stream/i;
const SSE_HEADER_LINE = /\r\ncontent-type:\s*text\/event-stream/i;

function isEventStream(response: ServerResponse): boolean {
  const contentType = response.getHeader('content-type');
  if (typeof contentType === 'string') return SSE_CONTENT_TYPE.test(contentType);
  // writeHead(status, headers) writes the headers without keeping them for getHeader(): read what went out.
  const sent = (response as ServerResponse & { _header?: unknown })._header;
  return typeof sent === 'string' && SSE_HEADER_LINE.test(sent);
}

/**
 * node's own http close clears the interval that checks request timeouts; close() is replaced here, so clear it too,
 * or every closed server stays referenced by its timer (the symbol is internal: when absent, nothing to clear).
 */
function clearConnectionsCheck(server: ManagedHttpServer): void {
  const key = Object.getOwnPropertySymbols(server).find(
    (symbol) => symbol.description === 'http.server.connectionsCheckingInterval',
  );
  if (!key) return;
  const interval = (server as unknown as Record<symbol, unknown>)[key];
  if (interval) clearInterval(interval as NodeJS.Timeout);
}

/**
 * One managed http(s) server: follows its connections and drains it gently. Stopping to listen uses
 * `net.Server.prototype.close` (the http version destroys the sockets idle at that instant, racing a client that is
 * sending its next request on one); idle sockets get `idleGraceMs`, busy ones finish with `Connection: close`, and
 * whatever remains at the deadline is destroyed and counted.
 */
export class ManagedServer {
  readonly server: ManagedHttpServer;
  /** Sockets seen from their start: plain http at 'connection', https at 'secureConnection'. */
  private readonly connections = new Map<Socket, ConnectionRecord>();
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
  private readonly originalEmit: ManagedHttpServer['emit'];

  constructor(server: ManagedHttpServer, fullyTracked: boolean, onCloseCalled: OnCloseCalled) {
    this.server = server;
    this.partiallyTracked = !fullyTracked;
    this.originalClose = server.close;
    this.originalEmit = server.emit;
    const managed = this;
    // node:cluster's disconnect (and apps, and test helpers) call close(cb): start a gentle drain instead of
    // destroying idle keep-alive sockets, and call back once the connections are gone.
    server.close = function close(this: ManagedHttpServer, callback?: (error?: Error) => void) {
      if (managed.closingSince === undefined && !server.listening) {
        return managed.originalClose.call(this, callback);
      }
      onCloseCalled(managed, callback);
      return this;
    } as ManagedHttpServer['close'];
    // Wrapping emit sees upgrades without adding an 'upgrade' listener, which would change how node treats
    // upgrade requests on a server that has none.
    // tls servers announce the socket http will use with 'secureConnection' (the raw socket is wrapped).
    // Every 'request' passes through here: no rest parameters or spread, so no array is built per request.
    server.emit = function emit(this: ManagedHttpServer, event: string | symbol, first?: unknown, second?: unknown) {
      if (event === 'upgrade') managed.trackUpgrade(second as Socket);
      else if (event === 'secureConnection') managed.trackConnection(first as Socket);
      // eslint-disable-next-line prefer-rest-params
      return Reflect.apply(managed.originalEmit, this, arguments) as boolean;
    } as ManagedHttpServer['emit'];
  }

  get closing(): boolean {
    return this.closingSince !== undefined;
  }

  /** A new connection to this server ('net.server.socket' for plain http, 'secureConnection' for https). */
  trackConnection(socket: Socket): void {
    if (this.connections.has(socket)) return;
    const record: ConnectionRecord = {
      socket,
      responses: new Set(),
      upgraded: false,
      idleSince: Date.now(),
      bytesReadWhenIdle: socket.bytesRead,
    };
    this.connections.set(socket, record);
    socket.once('close', () => {
      this.connections.delete(socket);
      this.checkDone();
    });
  }

  private recordFor(socket: Socket): ConnectionRecord {
    let record = this.connections.get(socket);
    if (!record) {
      // A connection that existed before we looked: others like it may exist too.
      this.partiallyTracked = true;
      this.trackConnection(socket);
      record = this.connections.get(socket) as ConnectionRecord;
    }
    return record;
  }

  requestStarted(socket: Socket, response: ServerResponse): void {
    this.recordFor(socket).responses.add(response);
  }

  responseFinished(socket: Socket, response: ServerResponse): void {
    const record = this.connections.get(socket);
    if (record) {
      record.responses.delete(response);
      if (record.responses.size === 0) {
        record.idleSince = Date.now();
        record.bytesReadWhenIdle = socket.bytesRead;
      }
    }
    if (this.closing) this.served += 1;
  }

  private trackUpgrade(socket: Socket | undefined): void {
    if (!socket) return;
    const record = this.recordFor(socket);
    record.upgraded = true;
    record.responses.clear();
  }

  /** Upgraded sockets and event streams open right now. */
  longLived(): Array<Socket | ServerResponse> {
    const found: Array<Socket | ServerResponse> = [];
    for (const record of this.connections.values()) {
      if (record.upgraded) {
        found.push(record.socket);
        continue;
      }
      for (const response of record.responses) if (isEventStream(response)) found.push(response);
    }
    return found;
  }

  /** Stops listening and starts the gentle drain; a second call can only move the deadline earlier. */
  beginClose(deadlineAt: number, idleGraceMs: number): void {
    if (deadlineAt < this.deadlineAt) {
      this.deadlineAt = deadlineAt;
      if (this.closingSince !== undefined && !this.settled) this.scheduleDeadline();
    }
    if (this.closingSince !== undefined) return;
    this.closingSince = Date.now();
    this.idleGraceMs = idleGraceMs;
    if (this.server.listening) {
      this.server.once('close', () => this.settle());
      // Stops accepting (in a cluster worker: tells the primary to stop routing here) without touching sockets.
      NetServer.prototype.close.call(this.server);
    }
    // Requests already in flight whose headers are not out yet end their connection too.
    for (const record of this.connections.values()) {
      for (const response of record.responses) ManagedServer.markClose(response);
      if (!record.upgraded) this.inFlightAtStart += record.responses.size;
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

  /** Destroys sockets idle for the whole grace period (counted from when the drain started or they became idle). */
  private sweepIdle(): void {
    const now = Date.now();
    const closingSince = this.closingSince ?? now;
    for (const record of this.connections.values()) {
      if (record.upgraded || record.responses.size > 0) continue;
      if (record.socket.bytesRead !== record.bytesReadWhenIdle) continue;
      if (now - Math.max(record.idleSince, closingSince) >= this.idleGraceMs) {
        this.idleClosed += 1;
        record.socket.destroy();
      }
    }
    if (!this.graceEnded && now - closingSince >= this.idleGraceMs) {
      this.graceEnded = true;
      // Connections we never saw (opened before the server was managed) can only be reached through the server's
      // own list: close the ones node knows are idle, once.
      if (this.partiallyTracked) this.server.closeIdleConnections();
    }
  }

  private cutRemaining(): void {
    if (this.settled) return;
    for (const record of this.connections.values()) {
      if (record.upgraded || record.responses.size > 0) this.cut += 1;
      if (record.upgraded || [...record.responses].some(isEventStream)) this.cutLongLived += 1;
      record.socket.destroy();
    }
    if (this.partiallyTracked) this.server.closeAllConnections();
    // Unknown upgraded sockets could still hold the server open; the deadline is the deadline.
    this.settle();
  }

  private checkDone(): void {
    if (this.settled || this.closingSince === undefined) return;
    if (this.server.listening || this.connections.size > 0) return;
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

  /** Gives the server back its own close and emit (after an app-initiated close, so a later listen starts fresh). */
  release(): void {
    this.server.close = this.originalClose;
    this.server.emit = this.originalEmit;
  }

  /** Marks a response so node sends `Connection: close` and ends the socket after it. */
  static markClose(response: ServerResponse): void {
    if (response.headersSent) return;
    response.shouldKeepAlive = false;
    response.setHeader('Connection', 'close');
  }
}

