// The load of scenario 8 (the connection path): GET /ping from a few clients, each with one request in flight, either
// on a new connection per request (webhooks, health checkers, a balancer without upstream keep-alive) or on one
// keep-alive connection. It times each request as the client feels it, counts which pid answered (the app answers its
// pid) and so which worker took each connection. A lean client on raw sockets, written here because the tests' load
// client (node:http) costs more CPU than the trivial server it measures; it checks the status and reads the pid,
// nothing else.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export const CLIENT_KINDS = ['per-request', 'keep-alive'];
const REQUEST_TIMEOUT_MS = 5_000;

/** The one response in `text` once it is complete: { status, pid }, or undefined while bytes are still to come. */
function completeResponse(text) {
  const headerEnd = text.indexOf('\r\n\r\n');
  if (headerEnd < 0) return undefined;
  const head = text.slice(0, headerEnd);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length ? text.length < headerEnd + 4 + Number(length[1]) : !text.includes('\r\n0\r\n\r\n', headerEnd)) return undefined;
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), pid: Number(/"pid":(\d+)/.exec(text.slice(headerEnd))?.[1] ?? 0) };
}

/** A tally of one run: latencies in ms, answers per pid (requests and connections), failures by reason. */
function tally() {
  return { ok: 0, failed: 0, reasons: {}, latenciesMs: [], requestsByPid: {}, connectionsByPid: {} };
}

function fail(counts, reason) {
  counts.failed += 1;
  counts.reasons[reason] = (counts.reasons[reason] ?? 0) + 1;
}

/**
 * One client: a connection, requests on it one at a time while `more()`, a new connection whenever the last one
 * closed (after each request when `perRequest`). Resolves when it has stopped.
 */
function client({ port, host, perRequest, more, counts }) {
  const request = Buffer.from(`GET /ping HTTP/1.1\r\nhost: ${host}:${port}\r\n${perRequest ? 'connection: close\r\n' : ''}\r\n`);
  return new Promise((resolve) => {
    const connect = () => {
      if (!more()) return resolve();
      const socket = net.connect({ host, port });
      socket.setNoDelay(true);
      let text = '';
      let began = performance.now();
      let first = true;
      let settled = false;
      const timer = setTimeout(() => finish('timeout'), REQUEST_TIMEOUT_MS);
      const send = () => {
        text = '';
        // Per request, the time counts from the connect: the handshake and the accept are what is measured.
        if (!perRequest) began = performance.now();
        timer.refresh();
        socket.write(request);
      };
      const finish = (reason) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (reason) fail(counts, reason);
        socket.destroy();
        connect();
      };
      socket.on('connect', send);
      socket.setEncoding('latin1');
      socket.on('data', (chunk) => {
        text += chunk;
        const response = completeResponse(text);
        if (!response) return;
        if (response.status !== 200) return finish(`status ${response.status}`);
        counts.ok += 1;
        counts.latenciesMs.push(performance.now() - began);
        counts.requestsByPid[response.pid] = (counts.requestsByPid[response.pid] ?? 0) + 1;
        if (first) counts.connectionsByPid[response.pid] = (counts.connectionsByPid[response.pid] ?? 0) + 1;
        first = false;
        if (perRequest || !more()) finish();
        else send();
      });
      socket.on('error', (error) => finish(error.code ?? error.message));
      socket.on('close', () => finish(settled ? undefined : 'closed before an answer'));
    };
    connect();
  });
}

const percentile = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : Number.NaN);

/**
 * `clients` clients of `kind` for `durationMs`: { rps, ok, failed, reasons, p50, p99, busiestShare, connectionsByPid }.
 * busiestShare is the largest share of the connections one pid took (each request's connection, per request).
 */
export async function runPathLoad({ port, host = '127.0.0.1', kind, clients = 8, durationMs = 1_000 }) {
  if (!CLIENT_KINDS.includes(kind)) throw new Error(`kind must be one of ${CLIENT_KINDS.join(', ')}; received ${JSON.stringify(kind)}`);
  const counts = tally();
  const began = performance.now();
  const more = () => performance.now() - began < durationMs;
  const perRequest = kind === 'per-request';
  await Promise.all(Array.from({ length: clients }, () => client({ port, host, perRequest, more, counts })));
  const elapsedMs = performance.now() - began;
  const sorted = counts.latenciesMs.sort((a, b) => a - b);
  const connections = Object.values(counts.connectionsByPid);
  const total = connections.reduce((sum, count) => sum + count, 0);
  return {
    rps: Math.round(counts.ok / (elapsedMs / 1000)),
    ok: counts.ok,
    failed: counts.failed,
    reasons: counts.reasons,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    busiestShare: total ? Math.max(...connections) / total : Number.NaN,
    connectionsByPid: counts.connectionsByPid,
  };
}
