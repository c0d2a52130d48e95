// The one load client. N clients on loopback, each sending one request at a time on its own socket (kept alive, or
// a new connection per request), alternating GET /ping and POST /echo; every answer is checked against the route
// contract and every POST's echo compared with what was sent. Nothing is retried: a request a restart broke is
// counted as failed, by the reason the client saw. Each request's start, latency and outcome are kept, with a
// per-100 ms series, for the bench's latency figures and charts.
//
// The route contract every fixture app serves: GET /ping -> { pid }, POST /echo { data } -> { data, pid }.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export const BUCKET_MS = 100;

/** After a failure a client pauses this long: a refused connection fails in microseconds. */
const PAUSE_AFTER_FAILURE_MS = 5;
/** After a refusal that is expected (the listener closed on purpose) a real client would go elsewhere. */
const PAUSE_AFTER_EXPECTED_REFUSAL_MS = 20;

/** The reason a request failed, as the tables and assertions show it. */
function reasonOf(error) {
  if (error?.message === 'socket hang up') return 'socket hang up';
  return error?.code ?? error?.message ?? String(error);
}

/** Checks one answer against the contract; returns the failure reason, or undefined when it holds. */
export function contractBreach(status, text, sentData) {
  if (status !== 200) return `status ${status}`;
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    return 'unexpected body';
  }
  if (!Number.isInteger(answer?.pid)) return 'unexpected body';
  if (sentData !== undefined && answer.data !== sentData) return 'echo mismatch';
  return undefined;
}

/**
 * Starts the load; `stop()` (or `done`) resolves with the summary. Bounded by `durationMs` and
 * `maxRequestsPerClient`, whichever comes first, so a test can never loop forever.
 */
export function startLoad({
  port,
  host = '127.0.0.1',
  clients = 8,
  keepAlive = true,
  durationMs = 120_000,
  maxRequestsPerClient = 200_000,
  bodyBytes = 64,
  requestTimeoutMs = 30_000,
  refusedIsExpected,
  tls,
}) {
  const transport = tls ? https : http;
  const startedAt = performance.now();
  const startedAtEpochMs = Date.now();
  // Parallel arrays keep the record compact at tens of thousands of requests per second.
  const times = [];
  const latencies = [];
  const oks = [];
  const series = [];
  const failures = new Map();
  const pids = new Set();
  let ok = 0;
  let failed = 0;
  let refusedExpected = 0;
  let connectionClose = 0;
  let stopping = false;
  let ended = false;
  const waiters = new Set();

  function record(began, reason) {
    const finished = performance.now();
    times.push(began - startedAt);
    latencies.push(finished - began);
    oks.push(reason === undefined ? 1 : 0);
    const index = Math.floor((finished - startedAt) / BUCKET_MS);
    while (series.length <= index) series.push({ ok: 0, failed: 0 });
    if (reason === undefined) {
      ok += 1;
      series[index].ok += 1;
    } else {
      failed += 1;
      series[index].failed += 1;
      failures.set(reason, (failures.get(reason) ?? 0) + 1);
    }
    for (const wake of waiters) wake();
  }

  /** One request; resolves with the failure reason, 'refused-expected', or undefined when it succeeded. */
  function once(agent, post, data) {
    const body = post ? JSON.stringify({ data }) : undefined;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (reason) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(reason);
      };
      const outgoing = transport.request(
        {
          host,
          port,
          agent,
          method: post ? 'POST' : 'GET',
          path: post ? '/echo' : '/ping',
          headers: post ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
        },
        (response) => {
          const chunks = [];
          response.on('data', (chunk) => chunks.push(chunk));
          response.on('error', (error) => finish(reasonOf(error)));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const breach = contractBreach(response.statusCode, text, post ? data : undefined);
            if (breach === undefined) {
              pids.add(JSON.parse(text).pid);
              if (response.headers.connection === 'close') connectionClose += 1;
            }
            finish(breach);
          });
        },
      );
      const timer = setTimeout(() => outgoing.destroy(Object.assign(new Error('request timed out'), { code: 'timeout' })), requestTimeoutMs);
      timer.unref();
      outgoing.on('error', (error) => {
        if (error.code === 'ECONNREFUSED' && refusedIsExpected?.()) finish('refused-expected');
        else finish(reasonOf(error));
      });
      outgoing.end(body);
    });
  }

  async function client(clientIndex) {
    const agent = new transport.Agent({ keepAlive, maxSockets: 1, ...(tls ? { ca: tls.ca } : {}) });
    try {
      for (let count = 0; count < maxRequestsPerClient && !stopping && performance.now() - startedAt < durationMs; count += 1) {
        const post = (count + clientIndex) % 2 === 1;
        const data = post ? `${clientIndex}-${count}-${randomBytes(8).toString('hex')}`.padEnd(bodyBytes, '.') : undefined;
        const began = performance.now();
        const reason = await once(agent, post, data);
        if (reason === 'refused-expected') {
          refusedExpected += 1;
          await sleep(PAUSE_AFTER_EXPECTED_REFUSAL_MS);
          continue;
        }
        record(began, reason);
        if (reason !== undefined) await sleep(PAUSE_AFTER_FAILURE_MS);
      }
    } finally {
      agent.destroy();
    }
  }

  const summary = () => ({
    startedAtEpochMs,
    durationMs: performance.now() - startedAt,
    sent: ok + failed,
    ok,
    failed,
    failures: Object.fromEntries([...failures.entries()].sort((a, b) => b[1] - a[1])),
    refusedExpected,
    pids,
    connectionClose,
    series,
    times,
    latencies,
    oks,
  });

  const done = Promise.all(Array.from({ length: clients }, (_, index) => client(index))).then(() => {
    ended = true;
    for (const wake of waiters) wake();
    return summary();
  });

  return {
    /** Milliseconds since the load started, on the same clock as the records. */
    now: () => performance.now() - startedAt,
    /** The counts so far. */
    progress: () => ({ sent: ok + failed, ok, failed, failures: Object.fromEntries(failures), pids: new Set(pids) }),
    /**
     * Resolves once `count` more requests have completed (answered or failed); at once when the load is stopped.
     * Rejects if the load reaches its bound first.
     */
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
      for (const wake of waiters) wake();
      return done;
    },
    done,
  };
}

/**
 * Resolves once `count` more requests have completed (answered or failed); at once when the load is stopped. Rejects
 * if the load reaches its bound first. `waiters`: the load's set of wake-up functions, called after every request.
 */
export function waitForCompleted(waiters, count, { completed, stopping, ended, bound }) {
  const target = completed() + count;
  return new Promise((resolve, reject) => {
    const wake = () => {
      if (completed() < target && !stopping() && !ended()) return;
      waiters.delete(wake);
      if (completed() >= target || stopping()) resolve();
      else reject(new Error(`the load reached its bound (${bound}) before ${count} more requests`));
    };
    waiters.add(wake);
    wake();
  });
}

/** Percentile (0..100) of a numeric array, nearest-rank. */
function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Latency percentiles of the successful requests that started inside any of the windows [from, to). */
export function latencyIn(summary, windows) {
  const picked = [];
  for (let index = 0; index < summary.times.length; index += 1) {
    if (!summary.oks[index]) continue;
    const at = summary.times[index];
    if (windows.some(([from, to]) => at >= from && at < to)) picked.push(summary.latencies[index]);
  }
  return { count: picked.length, p50: percentile(picked, 50), p99: percentile(picked, 99) };
}

/**
 * Requests per second of GET /ping with a lean client: raw keep-alive sockets, one request in flight per
 * connection, minimal response parsing. Not a second load client: it checks nothing but the status line, and
 * exists because node:http's client costs more CPU than a trivial server, so with it the bench's throughput
 * figures would measure the client. Counts 200 responses per second.
 */
export function measureThroughput({ port, host = '127.0.0.1', connections = 32, durationMs = 3_000 }) {
  const request = Buffer.from(`GET /ping HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: keep-alive\r\n\r\n`);
  let ok = 0;
  let failed = 0;
  const began = performance.now();
  const deadline = began + durationMs;
  const finished = [];
  for (let index = 0; index < connections; index += 1) {
    finished.push(
      new Promise((resolve) => {
        const socket = net.connect({ host, port });
        socket.setNoDelay(true);
        let buffer = Buffer.alloc(0);
        const send = () => {
          if (performance.now() >= deadline) return socket.end();
          socket.write(request);
        };
        socket.on('connect', send);
        socket.on('data', (chunk) => {
          buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
          for (;;) {
            const headerEnd = buffer.indexOf('\r\n\r\n');
            if (headerEnd < 0) return;
            const head = buffer.subarray(0, headerEnd).toString('latin1');
            const lengthMatch = /\r\ncontent-length:\s*(\d+)/i.exec(head);
            let total;
            if (lengthMatch) total = headerEnd + 4 + Number(lengthMatch[1]);
            else {
              const end = buffer.indexOf('\r\n0\r\n\r\n', headerEnd);
              if (end < 0) return;
              total = end + 7;
            }
            if (buffer.length < total) return;
            if (head.startsWith('HTTP/1.1 200')) ok += 1;
            else failed += 1;
            buffer = buffer.subarray(total);
            send();
          }
        });
        socket.on('error', () => {
          failed += 1;
        });
        socket.on('close', resolve);
      }),
    );
  }
  return Promise.all(finished).then(() => {
    const elapsed = performance.now() - began;
    return { rps: Math.round(ok / (elapsed / 1000)), ok, failed, durationMs: elapsed };
  });
}
