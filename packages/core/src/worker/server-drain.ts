import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { Http1Drain } from './http1-drain.js';
import type { HeldRelease } from './held-release.js';
import { closeWhenQuiet, QUIET_BOUND_MS } from './quiet-close.js';
import { Http2Drain } from './http2-drain.js';
import { clearConnectionsCheck, type HttpSocket } from './node-internals.js';

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

export interface ServerDrainResult {
  /** Connections destroyed at the deadline with a request or a long-lived exchange still running. */
  cut: number;
  /** Of `cut`: upgraded sockets and event streams. */
  cutLongLived: number;
  /** Requests answered after the drain started. */
  served: number;
  /** Requests in flight when the drain started (one per HTTP/1.1 connection: pipelined requests queued behind it are not seen). */
  inFlightAtStart: number;
  /** Idle keep-alive sockets closed after their grace period. */
  idleClosed: number;
  /** Requests parsed after their connection's closing answer went out: never handed to the app, the client may resend them. */
  unprocessed: number;
}

/** Called when something calls `close(cb)` on the server; the runtime decides between a server and a process drain. */
export type OnCloseCalled = (managed: ManagedServer, callback: ((error?: Error) => void) | undefined) => void;

/**
 * One managed server: stops listening, drains its HTTP/1.1 connections (http1-drain.ts) and HTTP/2 sessions
 * (http2-drain.ts) gently, and settles once all are gone or at the deadline. Stopping to listen uses
 * `net.Server.prototype.close` (the http version destroys the sockets idle at that instant, racing a client that is
 * sending its next request on one); idle connections get `idleGraceMs`, busy ones finish with `Connection: close`
 * (or a GOAWAY), and whatever remains at the deadline is destroyed and counted.
 */
export class ManagedServer {
  readonly server: ManagedHttpServer;
  /** tls servers wrap the raw socket: http sees the wrapping socket, announced by 'secureConnection'. */
  readonly tls: boolean;
  /** An HTTP/2 server: its sessions are followed (from 'session') instead of its connections. */
  readonly http2: boolean;
  private readonly http1Drain: Http1Drain;
  private readonly http2Drain = new Http2Drain(() => this.checkDone());
  /** True when some connections may be unknown (opened before the server was managed). */
  private partiallyTracked: boolean;
  private closingSince: number | undefined;
  private deadlineAt = Number.POSITIVE_INFINITY;
  private idleGraceMs = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private graceEnded = false;
  private settled = false;
  private readonly closedWaiters: Array<(result: ServerDrainResult) => void> = [];
  private readonly originalClose: ManagedHttpServer['close'];
  /** https, and HTTP/1.1 on a secure HTTP/2 server with `allowHTTP1` (its h2 connections are followed as sessions). */
  private readonly onSecureConnection = (socket: Socket & { alpnProtocol?: string | false }): void => {
    if (this.http2 && socket.alpnProtocol === 'h2') return;
    this.trackConnection(socket);
  };
  private readonly onSession = (session: ServerHttp2Session): void => this.http2Drain.track(session);

  constructor(server: ManagedHttpServer, fullyTracked: boolean, onCloseCalled: OnCloseCalled) {
    this.server = server;
    this.tls = typeof (server as { addContext?: unknown }).addContext === 'function';
    this.http2 = isHttp2Server(server);
    this.http1Drain = new Http1Drain(server as HttpServer, () => this.checkDone());
    // Sessions opened before an HTTP/2 server was managed are not reachable (node keeps no public list of them).
    this.partiallyTracked = !fullyTracked && !this.http2;
    this.originalClose = server.close;
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
    // A listener of its own, per connection: upgrades need none (node frees the parser of an upgraded socket).
    if (this.http2) server.on('session', this.onSession);
    if (this.tls) server.on('secureConnection', this.onSecureConnection);
  }

  get closing(): boolean {
    return this.closingSince !== undefined;
  }

  /** A new connection to this server ('net.server.socket' for plain http, 'secureConnection' for https). */
  trackConnection(socket: Socket): void {
    this.http1Drain.track(socket);
  }

  /**
   * During a drain (or while this server closes): a request was parsed on `socket`. A connection not seen before was
   * opened before the server was managed. See Http1Drain.requestParsed for where `Connection: close` goes.
   */
  requestStarted(socket: Socket, request: IncomingMessage, response: ServerResponse): void {
    if (!this.http1Drain.connections.has(socket)) {
      this.partiallyTracked = true;
      this.trackConnection(socket);
    }
    this.http1Drain.requestParsed(socket as HttpSocket, request, response);
  }

  /** During a drain: a response went out; its connection is idle from now unless another request is queued. */
  responseFinished(socket: Socket): void {
    if (this.closingSince !== undefined) this.http1Drain.responseFinished(socket);
  }

  /** Marks a response `Connection: close` (the last of its connection when it is the newest: see requestStarted). */
  markClose(response: ServerResponse): void {
    this.http1Drain.mark(response);
  }

  /** Upgraded sockets and event streams (HTTP/1.1 responses, HTTP/2 streams) open right now. */
  longLived(): Array<Socket | ServerResponse | ServerHttp2Stream> {
    return [...this.http1Drain.longLived(), ...this.http2Drain.longLived()];
  }

  /** Stops listening and starts the gentle drain; a second call can only move the deadline earlier. */
  beginClose(deadlineAt: number, idleGraceMs: number, lastClose?: HeldRelease): void {
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
      // Stops accepting (in a cluster worker: tells the primary to stop routing here) without touching sockets; at a
      // final stop, once the socket's queue is quiet (quiet-close.ts). Not for HTTP/2, nor for a server holding
      // upgraded sockets or event streams: a session or long-lived exchange held until then would begin after the
      // drain told the others to end (GOAWAY, the app's drain-start hooks), and be cut at the deadline.
      const stopAccepting = () => NetServer.prototype.close.call(this.server);
      if (lastClose && !this.http2 && this.longLived().length === 0) {
        closeWhenQuiet(this.server, stopAccepting, Math.min(QUIET_BOUND_MS, Math.max(0, deadlineAt - now)), lastClose.track(deadlineAt).closed);
      }
      else stopAccepting();
    }
    this.http1Drain.beginClose(now, this.partiallyTracked);
    this.http2Drain.beginClose();
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

  private sweepIdle(): void {
    const now = Date.now();
    this.http1Drain.sweepIdle(now, this.idleGraceMs, this.partiallyTracked && !this.http2);
    if (!this.graceEnded && now - (this.closingSince ?? now) >= this.idleGraceMs) {
      this.graceEnded = true;
      this.http2Drain.graceEnded();
    }
  }

  private cutRemaining(): void {
    if (this.settled) return;
    this.http1Drain.cutRemaining(this.partiallyTracked && !this.http2);
    this.http2Drain.cutRemaining();
    // Unknown upgraded sockets could still hold the server open; the deadline is the deadline.
    this.settle();
  }

  private checkDone(): void {
    if (this.settled || this.closingSince === undefined) return;
    if (this.server.listening || this.http1Drain.connections.size > 0 || this.http2Drain.sessions.size > 0) return;
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
    const one = this.http1Drain.counts;
    const two = this.http2Drain.counts;
    return {
      cut: one.cut + two.cut,
      cutLongLived: one.cutLongLived + two.cutLongLived,
      served: one.served + two.served,
      inFlightAtStart: one.inFlightAtStart + two.inFlightAtStart,
      idleClosed: one.idleClosed,
      unprocessed: one.unprocessed + two.unprocessed,
    };
  }

  /** Gives the server back its own close and emit (after an app-initiated close, so a later listen starts fresh). */
  release(): void {
    this.server.close = this.originalClose;
    this.server.off('secureConnection', this.onSecureConnection);
    this.server.off('session' as 'close', this.onSession as () => void);
    this.http1Drain.release();
  }
}
