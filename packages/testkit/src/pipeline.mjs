// A pipelining HTTP/1.1 client over raw TCP, as undici's `pipelining` option or a proxy's pipelined upstream sends:
// each connection writes a batch of POSTs at once, each carrying a unique id as its body, then reads the answers in
// order (each must echo its id). A connection that closes with answers missing leaves those ids "unanswered": the
// caller tells apart, from the app's own ledger, the ones the app processed (lost answers, the outcome a drain must
// never produce) from the ones it never saw (RFC 9112 9.3.2: the client may send them again).
import net from 'node:net';

const HEADER_END = '\r\n\r\n';

/** Parses complete responses off the front of `buffer`; returns them and what is left. */
function takeResponses(buffer) {
  const responses = [];
  for (;;) {
    const headerEnd = buffer.indexOf(HEADER_END);
    if (headerEnd < 0) break;
    const head = buffer.slice(0, headerEnd);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? Number.NaN);
    if (!Number.isFinite(length)) throw new Error(`an answer without content-length: ${JSON.stringify(head.slice(0, 200))}`);
    const bodyStart = headerEnd + HEADER_END.length;
    if (buffer.length < bodyStart + length) break;
    responses.push({
      status: Number(head.slice(9, 12)),
      close: /\r\nconnection:\s*close/i.test(head),
      body: buffer.slice(bodyStart, bodyStart + length),
    });
    buffer = buffer.slice(bodyStart + length);
  }
  return { responses, rest: buffer };
}

/**
 * Starts `connections` pipelining clients against 127.0.0.1:`port`, each sending batches of `depth` POSTs to `path`
 * (the body is the request's id; the answer must be that id with status 200) until stop() is called. Ids are
 * `${prefix}-${n}`. The answers are read as bytes in latin1 (ids are ASCII).
 */
export function startPipelinedLoad({ port, connections = 8, depth = 4, path = '/ledger', prefix = `p${process.pid}`, host = '127.0.0.1' }) {
  let next = 0;
  let stopping = false;
  const totals = { sent: 0, answered: 0, wrongAnswers: 0, connectionsOpened: 0, closedByServer: 0, errors: {} };
  const unanswered = [];
  const requestsSeen = [];

  function batch() {
    const ids = Array.from({ length: depth }, () => `${prefix}-${++next}`);
    const text = ids
      .map((id) => `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(id)}\r\n\r\n${id}`)
      .join('');
    return { ids, text };
  }

  /** One connection: batches until the server closes it, an error, or stop(); resolves when the socket is gone. */
  function connection() {
    return new Promise((resolve) => {
      const socket = net.connect(port, host);
      socket.setEncoding('latin1');
      let connected = false;
      let waiting = [];
      let buffer = '';
      let serverSaidClose = false;
      const sendBatch = () => {
        const { ids, text } = batch();
        waiting = ids;
        totals.sent += ids.length;
        socket.write(text);
      };
      socket.on('connect', () => {
        connected = true;
        totals.connectionsOpened += 1;
        sendBatch();
      });
      socket.on('data', (chunk) => {
        let parsed;
        try {
          parsed = takeResponses(buffer + chunk);
        } catch (error) {
          totals.errors[error.message] = (totals.errors[error.message] ?? 0) + 1;
          socket.destroy();
          return;
        }
        buffer = parsed.rest;
        for (const response of parsed.responses) {
          const id = waiting.shift();
          if (id === undefined) {
            totals.wrongAnswers += 1;
            continue;
          }
          totals.answered += 1;
          requestsSeen.push(id);
          if (response.status !== 200 || response.body !== id) totals.wrongAnswers += 1;
          if (response.close) serverSaidClose = true;
        }
        if (waiting.length === 0) {
          if (serverSaidClose || stopping) socket.end();
          else sendBatch();
        }
      });
      socket.on('error', (error) => {
        const code = error.code ?? error.message;
        // A refused connect sent nothing: not a failed request, the listener was between workers.
        if (connected) totals.errors[code] = (totals.errors[code] ?? 0) + 1;
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

  const loops = Array.from({ length: connections }, async () => {
    while (!stopping) {
      const connected = await connection();
      if (!connected) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  return {
    /** Requests answered so far. */
    answered: () => totals.answered,
    async waitForAnswers(count, timeoutMs = 30_000) {
      const target = totals.answered + count;
      const until = Date.now() + timeoutMs;
      while (totals.answered < target) {
        if (Date.now() > until) throw new Error(`pipelined load: ${count} answers not reached in ${timeoutMs} ms (${totals.answered} answered)`);
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
