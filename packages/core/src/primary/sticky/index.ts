/**
 * What the supervisor does for Socket.IO: the relay of @socket.io/cluster-adapter's messages (always: it costs
 * nothing until a worker sends one) and, with `sticky`, the sticky router. It follows the supervisor's own events:
 * each worker from its `fork` (emitted before the worker can have sent anything), and `stopping`, where the sticky
 * listeners close as the supervisor's own sockets do.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../../logger.js';
import type { SupervisorEvents } from '../supervisor-types.js';
import type { StickyMode } from '../../settings/connections.js';
import type { WorkerHandle } from '../workers/handle.js';
import { AdapterRelay } from './adapter-relay.js';
import { StickyRouter } from './router.js';

export class SocketIoSupport {
  private readonly relay: AdapterRelay;
  private router: StickyRouter | undefined;

  constructor(
    supervisor: EventEmitter<SupervisorEvents>,
    private readonly mode: () => StickyMode | undefined,
    private readonly handles: () => Iterable<WorkerHandle>,
    private readonly log: () => Logger,
  ) {
    this.relay = new AdapterRelay(handles);
    supervisor.on('fork', ({ pid }) => {
      const handle = [...handles()].find((candidate) => candidate.pid === pid && candidate.isAlive);
      if (handle) this.attach(handle);
    });
    supervisor.on('state', ({ to }) => {
      if (to === 'stopping') this.close();
    });
  }

  private attach(handle: WorkerHandle): void {
    this.relay.attach(handle);
    const mode = this.mode();
    if (mode === undefined) return;
    this.router ??= new StickyRouter(mode, this.handles, this.log);
    this.router.attach(handle);
  }

  private close(): void {
    this.router?.close();
  }
}
