/**
 * No connection reaches a worker before it is ready.
 *
 * Under the supervisor every worker accepts its own connections from the listening socket it shares with the other
 * workers (node:cluster's SCHED_NONE, or a socket the supervisor owns). A socket is a queue in the kernel: a
 * connection waits there until some process holding the socket calls accept(). So a worker that is not ready simply
 * must not call accept() yet: the connections go to the ready workers accepting on the same socket, or, when none
 * is (the first start, the only worker restarting), wait in the queue until this one is ready.
 *
 * Node gives no way to listen without accepting, so the gate holds back the one call that starts accepting: the
 * listening handle's listen() (libuv's uv_listen, which calls listen(2) and starts polling for connections). The
 * app's server still emits 'listening' and reports its address, so an app that warms up after listening, or calls
 * ready() from its listen callback, works unchanged. When the supervisor marks the worker ready it sends `accept`;
 * the gate then makes the held calls. Until the first worker's held call is made the port is not open: a client is
 * refused (safe to retry), never answered with an error or reset.
 *
 * Installed only under the zero-downtime supervisor and only when readiness is not `listening` (where the first
 * listen is the readiness). A server listened with `exclusive: true` is the worker's own socket, shared with no
 * other worker, and is not held.
 */
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { isExclusiveListen } from './listen-args.js';

interface ListeningHandle {
  listen(backlog: number): number;
}

type Listen = (this: net.Server, ...args: unknown[]) => net.Server;

const INSTALLED = Symbol.for('zero-downtime.accept-gate');

export class AcceptGate {
  private opened = false;
  private readonly held: Array<() => void> = [];

  /** Wraps net.Server.prototype.listen once per process, before the app listens. */
  install(): void {
    const store = globalThis as unknown as Record<symbol, AcceptGate | undefined>;
    if (store[INSTALLED] || this.opened) return;
    store[INSTALLED] = this;
    const original = net.Server.prototype.listen as unknown as Listen;
    const gate = this;
    const gated = function listen(this: net.Server, ...args: unknown[]): net.Server {
      if (!gate.opened && !isExclusiveListen(args)) gate.watch(this);
      return original.apply(this, args);
    };
    net.Server.prototype.listen = gated as unknown as typeof net.Server.prototype.listen;
  }

  /** The supervisor says this worker is ready: every held listening handle starts accepting. */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    for (const start of this.held.splice(0)) start();
  }

  /**
   * Node assigns the server's listening handle (made here, or received from the node:cluster primary) to
   * `server._handle`, then calls its listen(); the handle's listen is held until open().
   */
  private watch(server: net.Server): void {
    const target = server as unknown as { _handle: unknown };
    let current = target._handle;
    const gate = this;
    Object.defineProperty(server, '_handle', {
      configurable: true,
      enumerable: true,
      get: () => current,
      set(handle: unknown) {
        current = handle;
        if (handle === null || handle === undefined) return;
        // Once a handle is in place, the server keeps it: the property becomes a plain one again.
        Object.defineProperty(server, '_handle', { configurable: true, enumerable: true, writable: true, value: handle });
        gate.hold(server, handle as ListeningHandle);
      },
    });
  }

  private hold(server: net.Server, handle: ListeningHandle): void {
    if (this.opened || typeof handle.listen !== 'function') return;
    const listen = handle.listen;
    let backlog: number | undefined;
    handle.listen = (value: number) => {
      backlog = value;
      return 0;
    };
    this.held.push(() => {
      handle.listen = listen;
      // The server closed (or never got as far as listen()) before the worker was ready: nothing to start.
      if (backlog === undefined || (server as unknown as { _handle: unknown })._handle !== handle) return;
      const error = listen.call(handle, backlog);
      if (error !== 0) {
        const code = getSystemErrorName(error);
        server.emit('error', Object.assign(new Error(`listen ${code} (when the worker became ready)`), { code, errno: error, syscall: 'listen' }));
      }
    });
  }
}
