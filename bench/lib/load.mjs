// Keep-alive load generator: N clients on loopback, each sending one request at a
// time on its own pooled socket, mixed GET and POST whose echoed bodies are
// verified. Every request's outcome and latency are recorded, plus a per-100ms
// time series for the rollout chart. No retries: a request a restart broke is
// counted as failed with the reason the client saw.
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';

export const BUCKET_MS = 100;

/** Maps a client-side error to the reason shown in the tables. */
export function classifyError(error) {
  if (error?.message === 'socket hang up') return 'socket hang up';
  if (error?.code === 'ERR_BENCH_TIMEOUT') return 'timeout';
  return error?.code ?? error?.message ?? String(error);
}

/**
 * Starts the load and returns a handle; `await handle.done` (or `handle.stop()`)
 * for the result. Bounded by `durationMs` and `maxRequests`, whichever comes first.
 */
export function startLoad({
  port,
  host = '127.0.0.1',
  clients = 16,
  durationMs = 10_000,
  maxRequests = Number.POSITIVE_INFINITY,
  postRatio = 0.5,
  bodyBytes = 256,
  requestTimeoutMs = 10_000,
  path = '/echo',
  verify = true,
}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients, maxFreeSockets: clients });
  const startedAt = performance.now();
  const startedAtEpochMs = Date.now();
  // Parallel arrays keep the record compact at tens of thousands of requests per second.
  const times = [];
  const latencies = [];
  const oks = [];
  const reasons = new Map();
  const series = [];
  let sent = 0;
  let stopping = false;
  let stopTimer;

  function bucket(at) {
    const index = Math.floor((at - startedAt) / BUCKET_MS);
    while (series.length <= index) series.push({ ok: 0, failed: 0 });
    return series[index];
  }

  function record(began, ok, reason) {
    const ended = performance.now();
    times.push(began - startedAt);
    latencies.push(ended - began);
    oks.push(ok ? 1 : 0);
    const slot = bucket(ended);
    if (ok) slot.ok += 1;
    else {
      slot.failed += 1;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
  }

  function once(clientIndex, sequence) {
    const isPost = Math.random() < postRatio;
    const token = `${clientIndex}-${sequence}-${randomBytes(8).toString('hex')}`;
    const body = isPost ? token.padEnd(bodyBytes, '.') : '';
    const expected = isPost ? body : token;
    const requestPath = !verify ? path : isPost ? path : `${path}?v=${encodeURIComponent(token)}`;
    return new Promise((resolve) => {
      const began = performance.now();
      let settled = false;
      const finish = (ok, reason) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        record(began, ok, reason);
        resolve();
      };
      const request = http.request(
        {
          host,
          port,
          agent,
          method: isPost && verify ? 'POST' : 'GET',
          path: requestPath,
          headers: isPost && verify ? { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) } : {},
        },
        (response) => {
          const chunks = [];
          response.on('data', (chunk) => chunks.push(chunk));
          response.on('error', (error) => finish(false, classifyError(error)));
          response.on('end', () => {
            if (response.statusCode !== 200) return finish(false, `status ${response.statusCode}`);
            if (verify && Buffer.concat(chunks).toString() !== expected) return finish(false, 'body mismatch');
            finish(true);
          });
        },
      );
      const timer = setTimeout(() => {
        const error = new Error('request timed out');
        error.code = 'ERR_BENCH_TIMEOUT';
        request.destroy(error);
      }, requestTimeoutMs);
      timer.unref();
      request.on('error', (error) => finish(false, classifyError(error)));
      request.end(isPost && verify ? body : undefined);
    });
  }

  async function client(clientIndex) {
    let sequence = 0;
    while (!stopping && sent < maxRequests && performance.now() - startedAt < durationMs) {
      sent += 1;
      await once(clientIndex, sequence++);
      // A refused connection fails in microseconds; without a pause one client
      // would count hundreds of thousands of refusals while the port is closed.
      if (oks[oks.length - 1] === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  const done = Promise.all(Array.from({ length: clients }, (_, index) => client(index))).then(() => {
    clearTimeout(stopTimer);
    agent.destroy();
    return summarize();
  });
  stopTimer = setTimeout(() => {
    stopping = true;
  }, durationMs);
  stopTimer.unref();

  function summarize() {
    const failed = oks.length - oks.reduce((sum, ok) => sum + ok, 0);
    return {
      startedAtEpochMs,
      durationMs: performance.now() - startedAt,
      sent: oks.length,
      ok: oks.length - failed,
      failed,
      reasons: Object.fromEntries([...reasons.entries()].sort((a, b) => b[1] - a[1])),
      series,
      times,
      latencies,
      oks,
    };
  }

  return {
    startedAt,
    startedAtEpochMs,
    /** Milliseconds since the load started, on the same clock as the records. */
    now: () => performance.now() - startedAt,
    progress: () => ({ sent: oks.length, failed: oks.length - oks.reduce((sum, ok) => sum + ok, 0), reasons: Object.fromEntries(reasons) }),
    stop() {
      stopping = true;
      return done;
    },
    done,
  };
}

/** Percentile (0..100) of a numeric array, nearest-rank. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Latency percentiles of the successful requests that started inside any of the windows [from, to). */
export function latencyIn(result, windows) {
  const picked = [];
  for (let index = 0; index < result.times.length; index += 1) {
    if (!result.oks[index]) continue;
    const at = result.times[index];
    if (windows.some(([from, to]) => at >= from && at < to)) picked.push(result.latencies[index]);
  }
  return { count: picked.length, p50: percentile(picked, 50), p99: percentile(picked, 99) };
}

/** Failed requests inside the windows, by reason. */
export function failuresIn(result, windows) {
  let count = 0;
  for (let index = 0; index < result.times.length; index += 1) {
    if (result.oks[index]) continue;
    const at = result.times[index];
    if (windows.some(([from, to]) => at >= from && at < to)) count += 1;
  }
  return count;
}

/**
 * Throughput of one GET route with a lean client: raw keep-alive sockets, one
 * request in flight per connection, minimal response parsing. node:http's client
 * costs more CPU than a trivial server, so it would measure itself; this one
 * leaves the CPUs to the server. Counts 200 responses per second.
 */
export function measureRequestsPerSecond({ port, host = '127.0.0.1', connections = 32, durationMs = 3_000, path = '/echo?v=ok' }) {
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: keep-alive\r\n\r\n`);
  let ok = 0;
  let failed = 0;
  const began = performance.now();
  const deadline = began + durationMs;
  const sockets = [];
  const finished = [];
  for (let index = 0; index < connections; index += 1) {
    finished.push(
      new Promise((resolve) => {
        const socket = net.connect({ host, port });
        sockets.push(socket);
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
