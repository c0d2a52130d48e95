/**
 * The primary's half of `@socket.io/cluster-adapter`, built in: what its `setupPrimary()` does in a hand-written
 * cluster primary, which zdt owns instead. A message whose `source` is `_sio_adapter` is passed on as is: a response
 * (`FETCH_SOCKETS_RESPONSE`, `SERVER_SIDE_EMIT_RESPONSE`) to the worker that asked (known by the `uid`s it sent),
 * anything else (`io.emit()`, joins, heartbeats) to every other live worker. Every worker the supervisor forks joins
 * at its fork, so broadcasts keep reaching the clients of every worker through rollouts, crash restarts and scaling.
 * The message types are socket.io-adapter's `MessageType` numbers (stable since 2.5).
 */
import type { WorkerHandle } from '../workers/handle.js';

export const ADAPTER_SOURCE = '_sio_adapter';

/** socket.io-adapter's MessageType.FETCH_SOCKETS_RESPONSE and SERVER_SIDE_EMIT_RESPONSE. */
const RESPONSES = new Set([8, 10]);

interface AdapterMessage {
  source: string;
  type?: number;
  uid?: string;
  requesterUid?: string;
}

export class AdapterRelay {
  /** The adapter uids (one per namespace) each worker used, so an answer goes back to the one that asked. */
  private readonly uids = new WeakMap<WorkerHandle, Set<string>>();

  constructor(private readonly workers: () => Iterable<WorkerHandle>) {}

  /** Listens to one worker's messages; called at every fork. */
  attach(handle: WorkerHandle): void {
    handle.on('app-message', (message) => {
      if ((message as Partial<AdapterMessage>).source === ADAPTER_SOURCE) this.relay(handle, message as AdapterMessage);
    });
  }

  private relay(from: WorkerHandle, message: AdapterMessage): void {
    let uids = this.uids.get(from);
    if (!uids) this.uids.set(from, (uids = new Set()));
    if (message.uid !== undefined) uids.add(message.uid);
    if (message.type !== undefined && RESPONSES.has(message.type)) {
      for (const handle of this.workers()) {
        if (message.requesterUid !== undefined && this.uids.get(handle)?.has(message.requesterUid)) {
          handle.sendRaw(message);
          return;
        }
      }
      return;
    }
    for (const handle of this.workers()) if (handle !== from && handle.isAlive) handle.sendRaw(message);
  }
}
