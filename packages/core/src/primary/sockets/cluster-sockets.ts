/**
 * The supervisor's copies of the listening sockets node:cluster shares with the workers (every address a worker
 * listens on that the supervisor does not own: `listen(3000)` in the app).
 *
 * Under SCHED_NONE node:cluster binds each address once in the primary (`net._createServerHandle`, called from its
 * shared_handle.js; the same function listeners.ts binds with) and sends a copy of the socket to every worker that
 * listens on it; the workers accept. The primary keeps its copy until the last worker has left, and closes it when
 * that worker's 'close' message arrives. At a stop that is too late: by then no worker accepts, yet the socket still
 * takes connections for as long as the message takes, and closing it resets every one of them. So the supervisor
 * notes each copy as cluster makes it and closes it itself when the stop begins; the socket then lives only in the
 * workers, and the last of them to stop listening closes it (docs/explanation/connections.md).
 */
import net from 'node:net';

interface ClusterHandle {
  close(): void;
}

type CreateServerHandle = (...args: unknown[]) => ClusterHandle | number;

const netInternals = net as unknown as { _createServerHandle?: CreateServerHandle };

export class ClusterSockets {
  private readonly handles = new Set<ClusterHandle>();
  private original: CreateServerHandle | undefined;

  /**
   * Notes every socket node:cluster binds from now on in this process. node:net's own listen() calls its private
   * createServerHandle, not this export, so a server of the supervisor itself (control socket, metrics) is not noted.
   */
  watch(): void {
    const original = netInternals._createServerHandle;
    if (typeof original !== 'function' || this.original) return;
    this.original = original;
    const handles = this.handles;
    netInternals._createServerHandle = function createServerHandle(this: unknown, ...args: unknown[]) {
      const handle = original.apply(this, args);
      if (typeof handle === 'object' && handle !== null) handles.add(handle);
      return handle;
    };
  }

  /** Closes this process's copy of each; node:cluster's own close of it later does nothing. For a stop only. */
  closeOwnCopies(): void {
    for (const handle of this.handles) {
      const close = handle.close.bind(handle);
      handle.close = () => {};
      close();
    }
    this.handles.clear();
  }

  /** Gives node its function back. */
  unwatch(): void {
    if (this.original) netInternals._createServerHandle = this.original;
    this.original = undefined;
  }
}
