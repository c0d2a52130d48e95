// The ledger check's client: raw-TCP connections that pipeline batches of POSTs, each carrying a unique id as its
// text body, and read the answers in order (each must echo its id with status 200). A connection that closes with
// answers missing leaves those ids unanswered; the caller tells apart, from the app's own ledger, the ones the app
// processed (lost answers: the outcome a drain must never produce) from the ones it never saw (RFC 9112 9.3.2: the
// client may send them again). Unlike the product's pipelined load client (`@zero-downtime/verify/load`), it retries
// nothing: every id is sent once, so the ledger can be checked against it.
import net from 'node:net';
import { requestBytes, takeResponses } from '@zero-downtime/verify/load';

/** One connection: batches until the server closes it, an error, or `stopping()`; resolves whether it connected. */
function connection({ port, host, path, depth, nextId, totals, unanswered, stopping }) {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let connected = false;
    let waiting = [];
    let buffer = Buffer.alloc(0);
    let serverSaidClose = false;
    const sendBatch = () => {
      waiting = Array.from({ length: depth }, nextId);
      totals.sent += waiting.length;
      socket.write(Buffer.concat(waiting.map((id) => requestBytes('POST', path, host, id, 'text/plain'))));
    };
    socket.on('connect', () => {
      connected = true;
      totals.connectionsOpened += 1;
      sendBatch();
    });
    socket.on('data', (chunk) => {
      const parsed = takeResponses(Buffer.concat([buffer, chunk]));
      buffer = parsed.rest;
      for (const response of parsed.responses) {
        const id = waiting.shift();
        totals.answered += 1;
        if (id === undefined || response.status !== 200 || response.body.toString('latin1') !== id) totals.wrongAnswers += 1;
        if (response.closes) serverSaidClose = true;
      }
      if (waiting.length > 0) return;
      if (serverSaidClose || stopping()) socket.end();
      else sendBatch();
    });
    socket.on('error', (error) => {
      // A refused connect sent nothing: not a failed request, the listener was between workers.
      if (connected) totals.errors[error.code ?? error.message] = (totals.errors[error.code ?? error.message] ?? 0) + 1;
    });
    socket.on('close', () => {
      if (waiting.length > 0) {
        unanswered.push(...waiting);
        if (!serverSaidClose) totals.closedByServer += 1;
      }
      resolve(connected);
    });
  });
}

/**
 * Starts `connections` pipelining clients against host:`port`, each sending batches of `depth` POSTs to `path` until
 * stop(). Ids are `${prefix}-${n}`.
 */
export function startLedgerPipeline({ port, connections = 8, depth = 4, path = '/ledger', prefix = `p${process.pid}`, host = '127.0.0.1' }) {
  let next = 0;
  let stopping = false;
  const totals = { sent: 0, answered: 0, wrongAnswers: 0, connectionsOpened: 0, closedByServer: 0, errors: {} };
  const unanswered = [];
  const shared = { port, host, path, depth, nextId: () => `${prefix}-${++next}`, totals, unanswered, stopping: () => stopping };
  const loops = Array.from({ length: connections }, async () => {
    while (!stopping) {
      if (!(await connection(shared))) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  return {
    async waitForAnswers(count, timeoutMs = 30_000) {
      const target = totals.answered + count;
      const until = Date.now() + timeoutMs;
      while (totals.answered < target) {
        if (Date.now() > until) throw new Error(`ledger pipeline: ${count} answers not reached in ${timeoutMs} ms (${totals.answered} answered)`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    /** Ends every connection after its batch; the totals and the ids sent but never answered. */
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return { ...totals, unanswered: [...unanswered] };
    },
  };
}
