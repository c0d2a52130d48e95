/**
 * Which worker gets a connection under sticky routing. One rule for both modes first: a request naming a session a
 * worker reported (`sid=`, fed by `manageSocketIo()`) goes to that worker while it lives, draining or not, so the
 * session's last requests and its close still reach it. Then:
 * - `sid`: a request naming no known session opens one: the next ready worker, round-robin. Round-robin rather than
 *   least-connections because session counts reach the supervisor over IPC after the handshake, so in a burst (the
 *   clients of a drained worker reconnecting together, exactly when balance matters) least-connections would see
 *   stale counts and send the whole burst to one worker; round-robin spreads a burst evenly without any count, and
 *   random (@socket.io/sticky's default) spreads small numbers unevenly.
 * - `ip`: the client address's worker, as nginx ip_hash: an address is placed by a hash of it over the ready workers
 *   and stays there while that worker lives. A request that opens a session (no `sid=`) from an address whose worker
 *   is no longer ready (draining) is placed anew, so a client reconnecting from a drained worker lands on a ready
 *   one; its other requests still reach the old worker, where its session is.
 * New sessions go to ready workers only; a dead worker's sessions and addresses are forgotten at its exit.
 */
import type { StickyMode } from '../../settings/connections.js';
import type { WorkerHandle } from '../workers/handle.js';
import { pidOfSession } from './request-line.js';


/** Addresses remembered for `ip` at most; the oldest is forgotten first (it is placed by its hash again). */
const MAX_ADDRESSES = 65_536;

/**
 * Still takes the connections of its sessions: alive, and its cleanup not over (manageSocketIo() waits there for
 * the sessions still closing, whose last long-polling requests must reach it). After the cleanup the supervisor
 * disconnects it, and a socket in flight on a channel being closed trips an assertion in the worker's node
 * (child_process `_send`, answering the hand-over): none is sent once the worker reported `cleaned`.
 */
function takesConnections(handle: WorkerHandle): boolean {
  return handle.isAlive && handle.cleanupOutcome === undefined;
}

/** FNV-1a of the address: stable across supervisors, so an address keeps its place while the ready set does. */
function hash(text: string): number {
  let value = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    value ^= text.charCodeAt(index);
    value = Math.imul(value, 0x01000193) >>> 0;
  }
  return value;
}

export class Placement {
  private readonly bySession = new Map<string, WorkerHandle>();
  private readonly sessionsOf = new Map<WorkerHandle, Set<string>>();
  private readonly byAddress = new Map<string, WorkerHandle>();
  private nextIndex = 0;

  constructor(
    readonly mode: StickyMode,
    /** The workers that may take a new session, in slot order. */
    private readonly ready: () => WorkerHandle[],
    /** The live worker with this pid. */
    private readonly byPid: (pid: number) => WorkerHandle | undefined,
  ) {}

  get sessions(): number {
    return this.bySession.size;
  }

  sessionOpened(handle: WorkerHandle, sid: string): void {
    if (!takesConnections(handle)) return;
    this.bySession.set(sid, handle);
    let owned = this.sessionsOf.get(handle);
    if (!owned) this.sessionsOf.set(handle, (owned = new Set()));
    owned.add(sid);
  }

  sessionClosed(handle: WorkerHandle, sid: string): void {
    if (this.bySession.get(sid) === handle) this.bySession.delete(sid);
    this.sessionsOf.get(handle)?.delete(sid);
  }

  /** At a worker's exit: its sessions and addresses go at once, so their next request opens a session elsewhere. */
  forget(handle: WorkerHandle): void {
    for (const sid of this.sessionsOf.get(handle) ?? []) if (this.bySession.get(sid) === handle) this.bySession.delete(sid);
    this.sessionsOf.delete(handle);
    for (const [address, holder] of this.byAddress) if (holder === handle) this.byAddress.delete(address);
  }

  /**
   * The worker for a connection from `address` whose request line names `sid`; undefined when none is ready.
   * `byAddress`: the request line could not be read (TLS), so even under `sid` the address decides, as under `ip`.
   */
  place(sid: string | undefined, address: string, byAddress = false): WorkerHandle | undefined {
    // A session not reported yet (its handshake's answer outran the worker's report) is found by its id's pid.
    const holder = sid === undefined ? undefined : (this.bySession.get(sid) ?? this.unreported(sid));
    if (holder && takesConnections(holder)) return holder;
    if (this.mode === 'sid' && !byAddress) return this.roundRobin();
    const bound = this.byAddress.get(address);
    if (bound && takesConnections(bound) && (bound.state === 'ready' || sid !== undefined)) return bound;
    const ready = this.ready();
    if (ready.length === 0) return undefined;
    const chosen = ready[hash(address) % ready.length]!;
    this.byAddress.delete(address);
    if (this.byAddress.size >= MAX_ADDRESSES) this.byAddress.delete(this.byAddress.keys().next().value!);
    this.byAddress.set(address, chosen);
    return chosen;
  }

  private unreported(sid: string): WorkerHandle | undefined {
    const pid = pidOfSession(sid);
    // A session that closed there is answered "unknown session" by that worker, as by any other, and the client
    // opens a new one (a request without sid=, placed anew).
    return pid === undefined ? undefined : this.byPid(pid);
  }

  private roundRobin(): WorkerHandle | undefined {
    const ready = this.ready();
    if (ready.length === 0) return undefined;
    this.nextIndex = (this.nextIndex + 1) % ready.length;
    return ready[this.nextIndex];
  }
}
