/**
 * The HTTP/2 side of a managed server's drain: its sessions (one per connection; nothing per stream before a drain)
 * and when each gets its GOAWAY.
 *
 * A GOAWAY carries the last stream the server processed; streams the client sent while it travelled are refused
 * (never processed: clients that resend refused streams see nothing, others count a failure). Node offers no
 * shutdown notice (RFC 9113's first GOAWAY with 2^31-1 that keeps accepting streams), so the drain times the one
 * GOAWAY it has: a session with streams open at the drain start gets it at once (it reaches the client before the
 * answers to those streams end, so a client sending one request at a time is told before it sends the next); an
 * idle session gets it together with its next stream (the GOAWAY then includes that stream, which is answered), or
 * when the idle grace ends, whichever comes first.
 */
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { openStreams, sentHeaders } from './node-internals.js';

const SSE_CONTENT_TYPE = /^\s*text\/event-stream/i;
/** A stream that closed without a reset (node:http2's constants, without loading node:http2 here). */
const NGHTTP2_NO_ERROR = 0;

/** An HTTP/2 stream answered as `text/event-stream` (server-sent events). */
function isEventStream2(stream: ServerHttp2Stream): boolean {
  const contentType = sentHeaders(stream)?.['content-type'];
  return typeof contentType === 'string' && SSE_CONTENT_TYPE.test(contentType);
}

/**
 * GOAWAY with the last stream node processed (node's `session.close()`); the session closes once its last stream
 * ends. (`session.goaway()` with 2^31-1 would make nghttp2 ignore every later stream while promising to process it.)
 */
function sendGoaway(session: ServerHttp2Session): void {
  if (session.closed || session.destroyed) return;
  try {
    session.close();
  } catch {
    session.destroy();
  }
}

export interface Http2Counts {
  served: number;
  cut: number;
  cutLongLived: number;
  inFlightAtStart: number;
}

export class Http2Drain {
  readonly counts: Http2Counts = { served: 0, cut: 0, cutLongLived: 0, inFlightAtStart: 0 };
  /** HTTP/2 sessions open on this server. */
  readonly sessions = new Set<ServerHttp2Session>();
  /** During a drain: idle sessions whose GOAWAY waits for their next stream or the end of the grace. */
  private readonly waiting = new Set<ServerHttp2Session>();
  private closing = false;

  constructor(private readonly onSessionGone: () => void) {}

  /** A new session: followed until it closes; during a drain its GOAWAY is timed as for the others. */
  track(session: ServerHttp2Session): void {
    if (this.sessions.has(session)) return;
    this.sessions.add(session);
    session.once('close', () => {
      this.sessions.delete(session);
      this.waiting.delete(session);
      this.onSessionGone();
    });
    if (this.closing) this.goawayWhenTimely(session);
  }

  private goawayWhenTimely(session: ServerHttp2Session): void {
    if (openStreams(session).length > 0) return sendGoaway(session);
    this.waiting.add(session);
    session.once('stream', (stream: ServerHttp2Stream) => {
      if (!this.waiting.delete(session)) return;
      this.followStream(stream);
      sendGoaway(session);
    });
  }

  /** A stream answered during the drain: served when it ends without a reset. */
  private followStream(stream: ServerHttp2Stream): void {
    stream.once('close', () => {
      if (stream.rstCode === NGHTTP2_NO_ERROR) this.counts.served += 1;
    });
  }

  beginClose(): void {
    this.closing = true;
    for (const session of this.sessions) {
      const streams = openStreams(session);
      this.counts.inFlightAtStart += streams.length;
      for (const stream of streams) this.followStream(stream);
      this.goawayWhenTimely(session);
    }
  }

  /** The idle grace ended: sessions that stayed idle get their GOAWAY now. */
  graceEnded(): void {
    for (const session of this.waiting) sendGoaway(session);
    this.waiting.clear();
  }

  cutRemaining(): void {
    for (const session of this.sessions) {
      const streams = openStreams(session);
      if (streams.length > 0) this.counts.cut += 1;
      if (streams.some(isEventStream2)) this.counts.cutLongLived += 1;
      session.destroy();
    }
  }

  /** Streams answered as event streams, open right now. */
  longLived(): ServerHttp2Stream[] {
    const found: ServerHttp2Stream[] = [];
    for (const session of this.sessions) for (const stream of openStreams(session)) if (isEventStream2(stream)) found.push(stream);
    return found;
  }
}
