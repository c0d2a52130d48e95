/**
 * The HTTP/2 side of a managed server's drain: its sessions (one per connection; nothing per stream before a drain)
 * and when each gets its GOAWAY.
 *
 * A GOAWAY carries the last stream the server processed; streams the client sent while it travelled are refused
 * (never processed: clients that resend refused streams see nothing, others count a failure). Node offers no
 * shutdown notice (RFC 9113's first GOAWAY with 2^31-1 that keeps accepting streams), so the drain times the one
 * GOAWAY it has. A session with an answer still being written gets it at once: it reaches the client before that
 * answer ends, so a client that sends one request at a time is told before it sends the next. A session with no
 * answer pending (its client may be sending its next request right now) waits for its client's next requests (or
 * the end of the idle grace): several streams in one read (a client with requests in parallel) get the GOAWAY once
 * the read is consumed, naming all of them; a client seen sending one at a time gets it with its next stream, before
 * that stream's answer. Streams a client sends while the GOAWAY travels are still refused, never processed: only the
 * shutdown notice (which node does not expose) could avoid that.
 */
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { isEventStreamType } from './http1-drain.js';
import { openStreams, sentHeaders } from './node-internals.js';

/** A stream that closed without a reset (node:http2's constants, without loading node:http2 here). */
const NGHTTP2_NO_ERROR = 0;

/** An HTTP/2 stream answered as `text/event-stream` (server-sent events). */
function isEventStream2(stream: ServerHttp2Stream): boolean {
  return isEventStreamType(sentHeaders(stream)?.['content-type']);
}

/**
 * GOAWAY with the last stream node processed (node's `session.close()`); the session closes once its last stream
 * ends. nghttp2 refuses every stream it receives after this call (it closes them with REFUSED_STREAM once the GOAWAY
 * is out: their ids are above the one it names), so from here on a new stream on this session is not handed to the
 * app: it is counted as unprocessed, and the client knows it was not processed. (`session.goaway()` with 2^31-1 would
 * make nghttp2 ignore every later stream while promising to process it.)
 */
function sendGoaway(session: ServerHttp2Session, onHeld: () => void): void {
  if (session.closed || session.destroyed) return;
  const emit = session.emit;
  session.emit = function emitUnlessRefused(this: ServerHttp2Session, event: string | symbol, ...args: unknown[]) {
    if (event === 'stream') {
      onHeld();
      return true;
    }
    return emit.apply(this, [event, ...args] as Parameters<ServerHttp2Session['emit']>);
  } as ServerHttp2Session['emit'];
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
  /** Streams received after their session's GOAWAY was sent: refused, never handed to the app. */
  unprocessed: number;
}

export class Http2Drain {
  readonly counts: Http2Counts = { served: 0, cut: 0, cutLongLived: 0, inFlightAtStart: 0, unprocessed: 0 };
  private readonly onHeld = (): void => {
    this.counts.unprocessed += 1;
  };
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
    // A stream whose answer is still to be written: the GOAWAY sent now reaches the client before that answer ends.
    if (openStreams(session).some((stream) => !stream.writableEnded)) return sendGoaway(session, this.onHeld);
    this.waiting.add(session);
    // Streams received in the current read of the socket, and whether a read brought exactly one (a client sending
    // one request at a time).
    let inThisRead = 0;
    let oneAtATime = false;
    const onStream = (stream: ServerHttp2Stream): void => {
      if (!this.waiting.has(session)) return;
      this.followStream(stream);
      if (oneAtATime) {
        // The app already has this stream (its listener came first): the GOAWAY names it as the last one processed
        // and reaches the client before its answer ends, so the client sends its next request elsewhere.
        this.waiting.delete(session);
        session.off('stream', onStream);
        sendGoaway(session, this.onHeld);
        return;
      }
      if (inThisRead++ > 0) return;
      // Once this read is consumed: a GOAWAY sent from inside it would name this stream as the last one and nghttp2
      // would refuse the streams after it in the same read, which a client sending several at once has in flight.
      setImmediate(() => {
        if (!this.waiting.has(session)) return;
        if (inThisRead > 1) {
          this.waiting.delete(session);
          session.off('stream', onStream);
          sendGoaway(session, this.onHeld);
        } else {
          oneAtATime = true;
          inThisRead = 0;
        }
      });
    };
    session.on('stream', onStream);
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
    for (const session of this.waiting) sendGoaway(session, this.onHeld);
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
