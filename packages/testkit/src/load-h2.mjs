// The HTTP/2 load client: `sessions` clients, each holding one HTTP/2 session (cleartext h2c, or TLS with ALPN h2)
// and sending `streams` requests at a time on it, back to back, alternating GET /ping and POST /echo; every answer is
// checked against the route contract. When its session gets a GOAWAY or closes, the client opens a new one, as HTTP/2
// clients do (a supervised app's listener sends it to whichever worker accepts).
//
// One kind of retry, the one RFC 9113 §8.7 declares safe: a stream the server never processed (closed with
// REFUSED_STREAM, or above the last stream id of a GOAWAY) is sent again on a new session, as often as it is refused. Browsers, curl, Go's and
// gRPC's clients do this by themselves; node's http2 client does not, so this client does it and counts each such
// stream in `refusedRetried`, apart from the requests. Everything else that is not the contract's answer (a 503, any
// other reset, a session error, a timeout) is a failed request, by the reason the client saw.
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { contractBreach, waitForCompleted } from './load.mjs';

const { NGHTTP2_REFUSED_STREAM } = http2.constants;
/** A client whose new session could not connect waits this long before it tries again. */
const PAUSE_AFTER_FAILURE_MS = 5;

/**
 * Starts the load; `stop()` (or `done`) resolves with the summary. Bounded by `durationMs` and `maxRequestsPerClient`.
 * `tls`: `{ ca }` (the server's certificate) to connect over TLS with ALPN h2.
 */
export function startH2Load({
  port,
  host = '127.0.0.1',
  sessions = 4,
  streams = 2,
  tls,
  durationMs = 120_000,
  maxRequestsPerClient = 500_000,
  requestTimeoutMs = 30_000,
  refusedIsExpected,
}) {
  const startedAt = performance.now();
  const failures = new Map();
  const pids = new Set();
  let ok = 0;
  let failed = 0;
  let refusedRetried = 0;
  let refusedExpected = 0;
  let sessionsOpened = 0;
  let goaways = 0;
  let stopping = false;
  let ended = false;
  const waiters = new Set();
  const open = new Set();
  const authority = `${tls ? 'https' : 'http'}://${host}:${port}`;

  const wakeAll = () => {
    for (const wake of waiters) wake();
  };
  function record(reason) {
    if (reason === undefined) ok += 1;
    else {
      failed += 1;
      failures.set(reason, (failures.get(reason) ?? 0) + 1);
    }
    wakeAll();
  }

  /** A client's session: reused until it is going away, then replaced by a new one. */
  function sessionHolder() {
    let current;
    return () => {
      if (current && !current.closed && !current.destroyed && !current.goingAway) return current;
      sessionsOpened += 1;
      const session = http2.connect(authority, tls ? { ca: tls.ca, rejectUnauthorized: true } : {});
      session.goingAway = false;
      session.connected = new Promise((resolve) => {
        session.once('connect', () => resolve(undefined));
        session.once('error', (error) => resolve(error));
        session.once('close', () => resolve(new Error('session closed before it connected')));
      });
      session.on('error', () => {});
      session.on('goaway', () => {
        goaways += 1;
        session.goingAway = true;
      });
      session.once('close', () => open.delete(session));
      open.add(session);
      current = session;
      return session;
    };
  }

  /**
   * One request on the session; resolves with undefined (answered per the contract), 'retry' (never processed, or
   * never sent because the session was going away) or the failure reason.
   */
  function once(session, post, data) {
    const body = post ? JSON.stringify({ data }) : undefined;
    return new Promise((resolve) => {
      let settled = false;
      let status;
      const chunks = [];
      const finish = (reason) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(reason);
      };
      let stream;
      try {
        stream = session.request(
          post
            ? { ':method': 'POST', ':path': '/echo', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
            : { ':method': 'GET', ':path': '/ping' },
        );
      } catch {
        // ERR_HTTP2_GOAWAY_SESSION / ERR_HTTP2_INVALID_SESSION: nothing was sent.
        finish('not sent');
        return;
      }
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        finish('timeout');
      }, requestTimeoutMs);
      timer.unref();
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('data', (chunk) => chunks.push(chunk));
      stream.on('error', () => {});
      stream.on('close', () => {
        if (status === undefined) {
          if (stream.rstCode === NGHTTP2_REFUSED_STREAM) return finish('refused');
          if (!stream.id && stream.rstCode === http2.constants.NGHTTP2_CANCEL) return finish('not sent');
          return finish(stream.rstCode ? `reset ${stream.rstCode}` : 'closed without an answer');
        }
        if (stream.rstCode && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) return finish(`reset ${stream.rstCode} after status ${status}`);
        const text = Buffer.concat(chunks).toString('utf8');
        const breach = contractBreach(status, text, post ? data : undefined);
        if (breach === undefined) pids.add(JSON.parse(text).pid);
        finish(breach);
      });
      stream.end(body);
    });
  }

  async function lane(clientIndex, laneIndex, session) {
    for (let count = 0; count < maxRequestsPerClient && !stopping && performance.now() - startedAt < durationMs; count += 1) {
      const post = (count + clientIndex + laneIndex) % 2 === 1;
      const data = post ? `${clientIndex}-${laneIndex}-${count}-${randomBytes(8).toString('hex')}` : undefined;
      for (;;) {
        if (stopping || performance.now() - startedAt >= durationMs) return;
        const current = session();
        const connectError = await current.connected;
        if (connectError) {
          if (connectError.code === 'ECONNREFUSED' && refusedIsExpected?.()) {
            refusedExpected += 1;
            return;
          }
          record(connectError.code ?? connectError.message);
          await sleep(PAUSE_AFTER_FAILURE_MS);
          break;
        }
        const reason = await once(current, post, data);
        if (reason === 'not sent') {
          current.goingAway = true;
          continue;
        }
        if (reason === 'refused') {
          refusedRetried += 1;
          current.goingAway = true;
          continue;
        }
        record(reason);
        break;
      }
    }
  }

  async function client(clientIndex) {
    const session = sessionHolder();
    await Promise.all(Array.from({ length: streams }, (_, laneIndex) => lane(clientIndex, laneIndex, session)));
  }

  const summary = () => ({
    durationMs: performance.now() - startedAt,
    sent: ok + failed,
    ok,
    failed,
    failures: Object.fromEntries([...failures.entries()].sort((a, b) => b[1] - a[1])),
    refusedRetried,
    refusedExpected,
    sessionsOpened,
    goaways,
    pids,
  });

  const done = Promise.all(Array.from({ length: sessions }, (_, index) => client(index))).then(() => {
    ended = true;
    for (const session of open) session.close();
    wakeAll();
    return summary();
  });

  return {
    progress: () => ({ sent: ok + failed, ok, failed, failures: Object.fromEntries(failures), pids: new Set(pids), refusedRetried, goaways }),
    /** Resolves once `count` more requests have completed; at once when the load is stopped. */
    waitForRequests(count) {
      return waitForCompleted(waiters, count, {
        completed: () => ok + failed,
        stopping: () => stopping,
        ended: () => ended,
        bound: `${durationMs} ms or ${maxRequestsPerClient} requests per client`,
      });
    },
    stop() {
      stopping = true;
      wakeAll();
      return done;
    },
    done,
  };
}
