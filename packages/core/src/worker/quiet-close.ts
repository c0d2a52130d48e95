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
 * down; once nothing has arrived for QUIET_MS, this process's copy of the listening socket is closed right after a
 * poll of its queue, and only then are the held connections handed to the server, which answers each with
 * `Connection: close`; under a supervisor, only once every worker sharing the socket has closed its copy too
 * (`closed`, held-release.ts). The order matters: a client answered while some copy still listens reconnects at once
 * into the queue of the worker that closes last, as it closes. Answered after the last close, it is refused, which is
 * safe to retry. What remains is a connection from a client that was not held, completing its handshake between that
 * empty poll and the close: a sliver, not a stream (docs/explanation/connections.md). Bounded by `boundMs`, after
 * which it closes anyway.
 */
import type { Server } from 'node:net';

type OnConnection = (this: unknown, error: unknown, clientHandle: unknown) => void;

interface ListeningHandle {
  onconnection?: OnConnection;
  close?: () => void;
}

/** How long the queue must stay empty: longer than a response in flight plus a client's reconnect take. */
export const QUIET_MS = 100;

/** The longest a final stop waits for a quiet queue before it stops listening anyway. */
export const QUIET_BOUND_MS = 1_000;

/** How often the queue is looked at while it is not quiet yet. */
const LOOK_EVERY_MS = 5;

/**
 * `closed`: called once the listening handle is closed; the held connections are answered when its promise settles
 * (held-release.ts: once every worker sharing the socket closed its copy). Without it they are answered at once.
 */
export function closeWhenQuiet(server: Server, close: () => void, boundMs: number, closed?: () => Promise<void>): void {
  const handle = (server as unknown as { _handle: ListeningHandle | null })._handle;
  const original = handle?.onconnection;
  if (!handle || typeof original !== 'function') {
    close();
    // Nothing held: whoever waits for this process's copies to close need not wait for this one.
    void closed?.();
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
    // The listening handle closes first (in a cluster worker its close also tells the primary); the server's own
    // close() below closes it again and finds nothing left to do. In between, the held connections are counted by
    // the server (and found by the drain), so its 'close' waits for them.
    const closeHandle = handle.close;
    if (typeof closeHandle === 'function') {
      closeHandle.call(handle);
      handle.close = () => {};
    }
    const answer = () => {
      for (const [error, clientHandle] of held.splice(0)) original.call(handle, error, clientHandle);
      close();
    };
    if (closed) void closed().then(answer);
    else answer();
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
