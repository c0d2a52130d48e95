/**
 * The last close of a listening socket, made when its queue is quiet.
 *
 * When the last process holding a listening socket closes it, the kernel resets every connection still waiting in
 * the socket's queue, and a client that already sent its request cannot tell whether it was processed. At a rollout
 * that never happens (the other workers keep the socket); at a final stop it does, and clients that were just told
 * `Connection: close` reconnect at once, straight into that queue.
 *
 * So a final stop keeps accepting for a moment, but does not serve what it accepts yet: each new connection is held,
 * unread. A client whose connection is held waits for its answer instead of connecting again, so the arrivals die
 * down; once nothing has arrived for QUIET_MS, the server stops listening right after a poll of its queue, and right
 * before that the held connections are handed to the server, which answers each with `Connection: close`. Whoever connects afterwards is refused, which is safe to retry. What remains is a connection
 * that completes its handshake between that empty poll and the close: a sliver, not a stream
 * (docs/explanation/connections.md). Bounded by `boundMs`, after which it closes anyway.
 */
import type { Server } from 'node:net';

type OnConnection = (this: unknown, error: unknown, clientHandle: unknown) => void;

interface ListeningHandle {
  onconnection?: OnConnection;
}

/** How long the queue must stay empty: longer than a response in flight plus a client's reconnect take. */
export const QUIET_MS = 100;

/** The longest a final stop waits for a quiet queue before it stops listening anyway. */
export const QUIET_BOUND_MS = 1_000;

/** How often the queue is looked at while it is not quiet yet. */
const LOOK_EVERY_MS = 5;

export function closeWhenQuiet(server: Server, close: () => void, boundMs: number): void {
  const handle = (server as unknown as { _handle: ListeningHandle | null })._handle;
  const original = handle?.onconnection;
  if (!handle || typeof original !== 'function') {
    close();
    return;
  }
  const held: Array<[unknown, unknown]> = [];
  let lastAcceptAt = Date.now();
  handle.onconnection = function hold(error: unknown, clientHandle: unknown) {
    lastAcceptAt = Date.now();
    held.push([error, clientHandle]);
  };
  const giveUpAt = Date.now() + boundMs;
  const finish = () => {
    handle.onconnection = original;
    // Counted by the server (and found by the drain) before it stops listening, so its 'close' waits for them.
    for (const [error, clientHandle] of held.splice(0)) original.call(handle, error, clientHandle);
    close();
  };
  // Looked at in the check phase, right after a poll: that poll accepted whatever was queued, so a quiet queue
  // then means nothing arrived for QUIET_MS, and the close follows that poll before anything else runs.
  const look = () => {
    setImmediate(() => {
      const now = Date.now();
      if (!server.listening || now - lastAcceptAt >= QUIET_MS || now >= giveUpAt) finish();
      else setTimeout(look, LOOK_EVERY_MS);
    });
  };
  look();
}
