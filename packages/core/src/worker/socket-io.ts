/**
 * `manageSocketIo(io)`: what a Socket.IO server needs under zdt, in one call.
 * - Under sticky routing (`--sticky`), each engine.io session that opens or closes here is reported to the
 *   supervisor (`sticky:session`), which routes the session's later requests (long-polling, the WebSocket upgrade)
 *   to this worker.
 * - When the worker drains, each session is closed at the engine.io level once it owes no acknowledgement: the
 *   client sees "transport close" and socket.io-client reconnects (to a ready worker) after its reconnection delay,
 *   sending the emits it buffered meanwhile. A session is closed right after it answered an event (the moment its
 *   client is least likely to have another one on the way: an event the client sends after the close started is
 *   dropped by engine.io), or after `quietMs` without traffic.
 *
 * Typed structurally: this package does not depend on socket.io; any 4.x server fits.
 */
import type { EventEmitter } from 'node:events';
import { InvalidOptionError } from '../errors.js';
import { WORKER_ENV } from '../protocol.js';
import { sendToPrimary } from './primary-channel.js';
import { getRuntime } from './runtime.js';

interface EngineSocket extends EventEmitter {
  id: string;
  readyState: string;
  close(): void;
}

interface IoSocket {
  conn: EngineSocket;
  use(middleware: (event: unknown[], next: (error?: Error) => void) => void): unknown;
}

interface IoNamespace extends EventEmitter {
  sockets: Map<string, IoSocket>;
}

/** What `manageSocketIo()` reads of a Socket.IO server (socket.io 4.x). */
export interface SocketIoServerLike extends EventEmitter {
  engine?: EventEmitter & { clients: Record<string, EngineSocket>; clientsCount: number; generateId(request: unknown): string | PromiseLike<string> };
  _nsps?: Map<string, IoNamespace>;
  httpServer?: { getConnections(callback: (error: Error | null, count: number) => void): unknown };
}

export interface ManageSocketIoOptions {
  /** While draining, a session silent for this long is closed (when it owes no acknowledgement). @default 1000 */
  quietMs?: number;
}

const MANAGED = Symbol.for('zero-downtime.socket-io');

/** `<pid in base 36>.`: how a session id names its worker (primary/sticky/request-line.ts reads it back). */
function sessionPrefix(): string {
  return `${process.pid.toString(36)}.`;
}

/** Acknowledgements each session owes: events received with an ack callback not yet called. */
class OwedAcks {
  private readonly owed = new WeakMap<EngineSocket, number>();
  private readonly settledListeners = new WeakMap<EngineSocket, () => void>();

  count(conn: EngineSocket): number {
    return this.owed.get(conn) ?? 0;
  }

  onSettled(conn: EngineSocket, listener: () => void): void {
    this.settledListeners.set(conn, listener);
  }

  /** A socket.io middleware: the event's ack callback (its last argument) is counted until it is called. */
  follow(socket: IoSocket): void {
    socket.use((event, next) => {
      const ack = event[event.length - 1];
      if (typeof ack === 'function') {
        const conn = socket.conn;
        this.owed.set(conn, this.count(conn) + 1);
        let answered = false;
        event[event.length - 1] = (...args: unknown[]) => {
          if (!answered) {
            answered = true;
            this.owed.set(conn, this.count(conn) - 1);
            // After the answer is queued on the session.
            if (this.count(conn) === 0) queueMicrotask(() => this.settledListeners.get(conn)?.());
          }
          return (ack as (...values: unknown[]) => unknown)(...args);
        };
      }
      next();
    });
  }
}

/** Closes one session once it owes nothing: after its next event is answered, or after `quietMs` of silence. */
function closeWhenSettled(conn: EngineSocket, acks: OwedAcks, quietMs: number): void {
  if (conn.readyState !== 'open') return;
  let timer: NodeJS.Timeout | undefined;
  const attempt = () => {
    if (conn.readyState !== 'open' || acks.count(conn) > 0) return;
    conn.off('packet', onPacket);
    clearTimeout(timer);
    conn.close();
  };
  // After the event's handler ran (socket.io dispatches on the next tick): a synchronous ack is queued by then.
  const onPacket = (packet: { type?: string }) => {
    if (packet.type === 'message') setImmediate(attempt);
  };
  conn.on('packet', onPacket);
  acks.onSettled(conn, attempt);
  timer = setTimeout(attempt, quietMs);
  timer.unref();
}

/**
 * Puts a Socket.IO server under zdt: its sessions are reported for sticky routing and closed properly when the
 * worker drains. Call it once the server is attached to its http server (`new Server(httpServer)`). Idempotent.
 */
export function manageSocketIo(io: SocketIoServerLike, options: ManageSocketIoOptions = {}): void {
  const engine = io?.engine;
  if (typeof engine?.on !== 'function' || typeof engine.clients !== 'object') {
    throw new InvalidOptionError('io', 'a Socket.IO Server attached to an http server (new Server(httpServer))', io);
  }
  const quietMs = options.quietMs ?? 1_000;
  if (typeof quietMs !== 'number' || !Number.isFinite(quietMs) || quietMs < 0) throw new InvalidOptionError('quietMs', 'a finite number of milliseconds >= 0', quietMs);
  const store = io as unknown as Record<symbol, boolean | undefined>;
  if (store[MANAGED]) return;
  store[MANAGED] = true;
  const sticky = process.env[WORKER_ENV.sticky] !== undefined;
  const acks = new OwedAcks();
  let draining = false;
  const onSession = (conn: EngineSocket) => {
    if (sticky) {
      sendToPrimary({ zdt: 'sticky:session', sid: conn.id, open: true });
      conn.once('close', () => sendToPrimary({ zdt: 'sticky:session', sid: conn.id, open: false }));
    }
    // A session that opened while draining (its handshake was already on the way here) is closed as well.
    if (draining) closeWhenSettled(conn, acks, quietMs);
  };
  if (sticky) {
    // Each session id starts with this process's pid, so the supervisor routes a session's next request here even
    // before the report above reaches it (the handshake's answer and the IPC message race).
    const generateId = engine.generateId.bind(engine);
    engine.generateId = (request) => Promise.resolve(generateId(request)).then((id) => `${sessionPrefix()}${id}`);
  }
  for (const conn of Object.values(engine.clients)) onSession(conn);
  engine.on('connection', onSession);
  const followNamespace = (namespace: IoNamespace) => {
    for (const socket of namespace.sockets.values()) acks.follow(socket);
    namespace.on('connection', (socket: IoSocket) => acks.follow(socket));
  };
  for (const namespace of io._nsps?.values() ?? []) followNamespace(namespace);
  io.on('new_namespace', followNamespace);
  const runtime = getRuntime();
  runtime.addDrainStartHook(() => {
    draining = true;
    for (const conn of Object.values(engine.clients)) closeWhenSettled(conn, acks, quietMs);
  });
  // The HTTP drain can end between two long-polling requests of a session still closing (its last answer waits for
  // the client's next poll): the cleanup waits for the sessions, and the supervisor hands this worker their requests
  // until the cleanup is over.
  runtime.addShutdownHook(() => sessionsClosed(engine, io.httpServer), { name: 'Socket.IO sessions' });
}

/**
 * Resolves once the server has no engine.io session left and its http server no connection: a session is gone as
 * soon as its close is written, but that answer (with the last acknowledgements) still has to leave before the
 * process exits. The hook's own bound ends the wait otherwise.
 */
function sessionsClosed(engine: { clientsCount: number }, httpServer: SocketIoServerLike['httpServer']): Promise<void> {
  return new Promise((resolve) => {
    let checking = false;
    const check = () => {
      if (checking || engine.clientsCount > 0) return;
      checking = true;
      const done = () => {
        clearInterval(timer);
        resolve();
      };
      if (!httpServer) return done();
      httpServer.getConnections((error, count) => {
        checking = false;
        if (error || count === 0) done();
      });
    };
    const timer = setInterval(check, 50);
    timer.unref();
    check();
  });
}
