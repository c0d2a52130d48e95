/**
 * The WebSocket load client, on the `ws` package (the handshake, masking, ping and pong, the closing handshake): N
 * clients each hold one connection to `path`, ping it every 50 ms and require each pong within the request timeout.
 * A connection the server closes with a close frame (1000, 1001 going away, 1005 no code, 1012 service restart) is
 * answered with a close frame (by ws) and opened again at once; one that ends without a close frame is cut, and one
 * closed with another code failed.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { hostPort } from '@zero-downtime/core/tooling';
import WebSocket from 'ws';
import { CLOSE_WAIT_MS, startLongLived, type Ending, type LongLivedLoad, type LongLivedOptions, type LongLivedTarget } from './long-lived.js';
import { reasonOf } from './routes.js';

const PING_INTERVAL_MS = 50;
/**
 * Close codes that end a connection properly: normal, going away, no status code, service restart. The one list:
 * `zdt verify --help` and the docs name them as `properCloseCodes()` writes them (a test checks the docs).
 */
export const PROPER_CLOSE_CODES = [1000, 1001, 1005, 1012] as const;
const PROPER_CLOSE = new Set<number>(PROPER_CLOSE_CODES);

/** The proper close codes in prose: "1000, 1001, 1005 or 1012". */
export function properCloseCodes(): string {
  return `${PROPER_CLOSE_CODES.slice(0, -1).join(', ')} or ${PROPER_CLOSE_CODES.at(-1)}`;
}
/** The code ws reports when the connection ended without a close frame (RFC 6455 7.1.5). */
const NO_CLOSE_FRAME = 1006;

/** A ws error, by what the client saw: the handshake's accept value, a protocol error (ws's WS_ERR_* codes), a socket error. */
function reasonOfWs(error: Error & { code?: string }): string {
  if (error.message === 'Invalid Sec-WebSocket-Accept header') return 'handshake: wrong Sec-WebSocket-Accept';
  if (error.code === 'WS_ERR_UNEXPECTED_MASK') return 'protocol error (masked server frame)';
  if (error.code?.startsWith('WS_ERR_')) return `protocol error (${error.message})`;
  return reasonOf(error);
}

/** How a connection that was open ended, by ws's close code. */
function endingOf(code: number, closing: boolean, lastError: string | undefined): Ending {
  if (closing) return { ok: true, reconnect: false };
  if (code === NO_CLOSE_FRAME) return { ok: false, reason: `cut (${lastError ?? 'closed without a close frame'})` };
  return PROPER_CLOSE.has(code) ? { ok: true, reconnect: true } : { ok: false, reason: `closed with ${code}` };
}

/** One connection, from the handshake to its end. */
function connection(target: LongLivedTarget, client: number): Promise<Ending> {
  const { host, port, path, requestTimeoutMs, counts } = target;
  return new Promise((resolve) => {
    let open = false;
    let closing = false;
    let settled = false;
    let pingSentAt: number | undefined;
    let lastError: string | undefined;
    // closeTimeout (in ws 8.23, which package.json asks for) is not in @types/ws yet.
    const options: WebSocket.ClientOptions & { closeTimeout: number } = {
      perMessageDeflate: false,
      closeTimeout: CLOSE_WAIT_MS,
      // Our own socket, to see why it ended: once open, ws keeps a socket error (ECONNRESET) to itself.
      createConnection: () => {
        const raw = net.connect({ host, port });
        raw.setNoDelay(true);
        raw.on('error', (error) => (lastError = reasonOf(error)));
        return raw;
      },
    };
    const socket = new WebSocket(`ws://${hostPort(host, port)}${path}`, options);
    const finish = (ending: Ending) => {
      if (settled) return;
      settled = true;
      clearInterval(ticker);
      unsubscribe();
      clearTimeout(openTimer);
      if (socket.readyState !== WebSocket.CLOSED) socket.terminate();
      resolve(ending);
    };
    const openTimer = setTimeout(() => finish({ ok: false, reason: 'timeout (handshake)' }), requestTimeoutMs);
    socket.on('unexpected-response', (_request, response) => finish({ ok: false, reason: `handshake status ${response.statusCode ?? '?'}` }));
    socket.on('open', () => {
      open = true;
      clearTimeout(openTimer);
      counts.answered(client);
      if (counts.tally.stopping) beginClose();
    });
    socket.on('pong', () => {
      pingSentAt = undefined;
      counts.answered(client);
    });
    socket.on('error', (error: Error & { code?: string }) => {
      lastError = reasonOfWs(error);
      if (open && error.code?.startsWith('WS_ERR_')) finish({ ok: false, reason: lastError });
    });
    socket.on('close', (code: number) => {
      if (!open) finish({ ok: false, reason: lastError ?? 'closed before the handshake' });
      else finish(endingOf(code, closing, lastError));
    });
    // Stopping: a close frame 1000, then up to CLOSE_WAIT_MS for the server's (one still in its handshake: once open).
    const beginClose = () => {
      if (!open || closing || settled) return;
      closing = true;
      socket.close(1000);
      setTimeout(() => finish({ ok: true, reconnect: false }), CLOSE_WAIT_MS).unref();
    };
    const unsubscribe = counts.onStop(beginClose);
    const ticker = setInterval(() => {
      if (!open || closing) return;
      if (pingSentAt === undefined) {
        pingSentAt = performance.now();
        socket.ping(String(counts.messages));
      } else if (performance.now() - pingSentAt > requestTimeoutMs) {
        finish({ ok: false, reason: 'timeout (no pong)' });
      }
    }, PING_INTERVAL_MS);
  });
}

export function startWebSocketLoad(options: LongLivedOptions): LongLivedLoad {
  return startLongLived(options, connection);
}
