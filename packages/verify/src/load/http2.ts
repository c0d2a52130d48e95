/**
 * The HTTP/2 load client: `sessions` clients, each holding one HTTP/2 session (cleartext h2c, or TLS with ALPN h2)
 * and sending `streams` requests at a time on it, back to back, the routes in turn; every answer is checked against
 * its route. When its session gets a GOAWAY or closes, the client opens a new one, as HTTP/2 clients do (a supervised
 * app's listener sends it to whichever worker accepts).
 *
 * One kind of retry, the one RFC 9113 §8.7 declares safe: a stream the server never processed (closed with
 * REFUSED_STREAM, or above the last stream id of a GOAWAY) is sent again on a new session, as often as it is refused.
 * Browsers, curl, Go's and gRPC's clients do this by themselves; node's http2 client does not, so this client does it
 * and counts each such stream in `refusedRetried`, apart from the requests. Everything else that is not the route's
 * answer (a 503, any other reset, a session error, a timeout) is a failed request, by the reason the client saw.
 */
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerBreach, CONTRACT_ROUTES, echoBody, echoData, pidIn, routeFor, type Route } from './routes.js';
import { Tally, type LoadProgress, type RunningLoad } from './tally.js';

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;
/** A client whose new session could not connect waits this long before it tries again. */
const PAUSE_AFTER_FAILURE_MS = 5;

export interface H2LoadOptions {
  port: number;
  host?: string;
  /** Clients, each with one session at a time. @default 4 */
  sessions?: number;
  /** Requests each client keeps in flight on its session. @default 2 */
  streams?: number;
  /** @default CONTRACT_ROUTES */
  routes?: readonly Route[];
  /** Connect over TLS (ALPN h2), trusting this certificate (or any, when `insecure`). */
  tls?: { ca?: string; insecure?: boolean };
  /** @default 120_000 */
  durationMs?: number;
  /** @default 500_000 */
  maxRequestsPerClient?: number;
  /** @default 30_000 */
  requestTimeoutMs?: number;
  /** When it returns true, a refused connection ends the client instead of counting as failed (a standalone process stopped). */
  refusedIsExpected?: () => boolean;
}

export interface H2LoadSummary extends ReturnType<Tally['summary']> {
  /** Streams the server never processed (REFUSED_STREAM or above a GOAWAY's last stream id), sent again on a new session. */
  refusedRetried: number;
  refusedExpected: number;
  sessionsOpened: number;
  goaways: number;
}

export type H2Load = RunningLoad<H2LoadSummary, LoadProgress & { refusedRetried: number; goaways: number }>;

interface Session extends http2.ClientHttp2Session {
  goingAway: boolean;
  connected: Promise<Error | undefined>;
}

/**
 * One request on the session; resolves with undefined (answered per the route), 'refused' or 'not sent' (never
 * processed, or never sent because the session was going away) or the failure reason.
 */
function once(session: Session, route: Route, data: string | undefined, requestTimeoutMs: number): Promise<[string | undefined, number | undefined]> {
  const body = data === undefined ? undefined : echoBody(data);
  return new Promise((resolve) => {
    let settled = false;
    let status: number | undefined;
    const chunks: Buffer[] = [];
    const finish = (reason: string | undefined, pid?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve([reason, pid]);
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(
        body === undefined
          ? { ':method': route.method, ':path': route.path }
          : { ':method': route.method, ':path': route.path, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      );
    } catch {
      // ERR_HTTP2_GOAWAY_SESSION / ERR_HTTP2_INVALID_SESSION: nothing was sent.
      finish('not sent');
      return;
    }
    const timer = setTimeout(() => {
      stream.close(NGHTTP2_CANCEL);
      finish('timeout');
    }, requestTimeoutMs);
    timer.unref();
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => {});
    stream.on('close', () => {
      if (status === undefined) {
        if (stream.rstCode === NGHTTP2_REFUSED_STREAM) return finish('refused');
        if (!stream.id && stream.rstCode === NGHTTP2_CANCEL) return finish('not sent');
        return finish(stream.rstCode ? `reset ${stream.rstCode}` : 'closed without an answer');
      }
      if (stream.rstCode && stream.rstCode !== NGHTTP2_NO_ERROR) return finish(`reset ${stream.rstCode} after status ${status}`);
      const text = Buffer.concat(chunks).toString('utf8');
      const breach = answerBreach(route, status, text, data);
      finish(breach, breach === undefined ? pidIn(text) : undefined);
    });
    stream.end(body);
  });
}

/** The sessions of one load: every client's current session, and how many were opened and told to go away. */
class Sessions {
  opened = 0;
  goaways = 0;
  readonly open = new Set<Session>();

  constructor(
    private readonly authority: string,
    private readonly tls: H2LoadOptions['tls'],
  ) {}

  /** A client's session: reused until it is going away, then replaced by a new one. */
  holder(): () => Session {
    let current: Session | undefined;
    return () => {
      if (current && !current.closed && !current.destroyed && !current.goingAway) return current;
      current = this.connect();
      return current;
    };
  }

  private connect(): Session {
    this.opened += 1;
    const session = http2.connect(this.authority, this.tls ? { ca: this.tls.ca, rejectUnauthorized: !this.tls.insecure } : {}) as Session;
    session.goingAway = false;
    session.connected = new Promise((resolve) => {
      session.once('connect', () => resolve(undefined));
      session.once('error', (error) => resolve(error));
      session.once('close', () => resolve(new Error('session closed before it connected')));
    });
    session.on('error', () => {});
    session.on('goaway', () => {
      this.goaways += 1;
      session.goingAway = true;
    });
    session.once('close', () => this.open.delete(session));
    this.open.add(session);
    return session;
  }
}

export function startH2Load(options: H2LoadOptions): H2Load {
  const { port, host = '127.0.0.1', sessions = 4, streams = 2, routes = CONTRACT_ROUTES, tls, requestTimeoutMs = 30_000, refusedIsExpected } = options;
  const tally = new Tally(options.durationMs ?? 120_000, options.maxRequestsPerClient ?? 500_000);
  let refusedRetried = 0;
  let refusedExpected = 0;
  const pool = new Sessions(`${tls ? 'https' : 'http'}://${host}:${port}`, tls);

  async function lane(clientIndex: number, laneIndex: number, session: () => Session) {
    for (let count = 0; tally.running(count); count += 1) {
      const route = routeFor(routes, clientIndex + laneIndex, count);
      const data = route.echo ? echoData(`${clientIndex}-${laneIndex}-${count}`, 0) : undefined;
      for (;;) {
        if (!tally.running()) return;
        const current = session();
        const connectError = await current.connected;
        if (connectError) {
          if ((connectError as NodeJS.ErrnoException).code === 'ECONNREFUSED' && refusedIsExpected?.()) {
            refusedExpected += 1;
            return;
          }
          tally.record((connectError as NodeJS.ErrnoException).code ?? connectError.message);
          await sleep(PAUSE_AFTER_FAILURE_MS);
          break;
        }
        const began = performance.now();
        const [reason, pid] = await once(current, route, data, requestTimeoutMs);
        if (reason === 'not sent' || reason === 'refused') {
          if (reason === 'refused') refusedRetried += 1;
          current.goingAway = true;
          continue;
        }
        tally.record(reason, pid, began);
        break;
      }
    }
  }

  async function client(clientIndex: number) {
    const session = pool.holder();
    await Promise.all(Array.from({ length: streams }, (_, laneIndex) => lane(clientIndex, laneIndex, session)));
  }

  const summary = (): H2LoadSummary => ({ ...tally.summary(), refusedRetried, refusedExpected, sessionsOpened: pool.opened, goaways: pool.goaways });
  const done = tally.run(Array.from({ length: sessions }, (_, index) => client(index)), summary, () => {
    for (const session of pool.open) session.close();
  });
  return tally.handle(done, () => ({ ...tally.progress(), refusedRetried, goaways: pool.goaways }));
}
