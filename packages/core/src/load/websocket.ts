/**
 * The WebSocket load client (RFC 6455, over node:net, no dependency): N clients each hold one connection to `path`,
 * ping it every 50 ms and require each pong within the request timeout. A connection the server closes with a close
 * frame (1000, 1001 going away, 1005 no code, 1012 service restart) is answered with a close frame and opened again
 * at once; one that ends without a close frame is cut, and one closed with another code failed.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { hostPort } from '../host-port.js';
import { CLOSE_WAIT_MS, startLongLived, type Ending, type LongLivedLoad, type LongLivedOptions, type LongLivedTarget } from './long-lived.js';
import { reasonOf } from './routes.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const PING_INTERVAL_MS = 50;
/** Close codes that end a connection properly: normal, going away, no status code, service restart. */
const PROPER_CLOSE = new Set([1000, 1001, 1005, 1012]);
const enum Opcode {
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

/** A client frame: final, masked (RFC 6455 5.3), a control payload under 126 bytes. */
function frame(opcode: Opcode, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let index = 0; index < masked.length; index += 1) masked[index]! ^= mask[index % 4]!;
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | masked.length]), mask, masked]);
}

function closeFrame(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return frame(Opcode.Close, payload);
}

/** Splits complete server frames off `buffer`; a masked server frame is a protocol error (undefined). */
function takeFrames(buffer: Buffer): { frames: Array<{ opcode: number; payload: Buffer }>; rest: Buffer } | undefined {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let offset = 0;
  while (buffer.length - offset >= 2) {
    if (buffer[offset + 1]! & 0x80) return undefined;
    let length = buffer[offset + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      if (buffer.length - offset < 4) break;
      length = buffer.readUInt16BE(offset + 2);
      header = 4;
    } else if (length === 127) {
      if (buffer.length - offset < 10) break;
      length = Number(buffer.readBigUInt64BE(offset + 2));
      header = 10;
    }
    if (buffer.length - offset < header + length) break;
    frames.push({ opcode: buffer[offset]! & 0x0f, payload: buffer.subarray(offset + header, offset + header + length) });
    offset += header + length;
  }
  return { frames, rest: buffer.subarray(offset) };
}


/** The opening handshake's request (RFC 6455 4.1). */
function handshakeRequest(host: string, port: number, path: string, key: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${hostPort(host, port)}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

/** The bytes after a 101 answer carrying the accept value for `key`; the failure reason otherwise; undefined: incomplete. */
function readHandshake(buffer: Buffer, key: string): Buffer | string | undefined {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buffer.subarray(0, end).toString('latin1');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
  if (status !== '101') return `handshake status ${status ?? '?'}`;
  const given = /^sec-websocket-accept:[ \t]*(\S+)[ \t]*$/im.exec(head)?.[1];
  if (given !== createHash('sha1').update(key + GUID).digest('base64')) return 'handshake: wrong Sec-WebSocket-Accept';
  return buffer.subarray(end + 4);
}

/** A close frame from the server: the close frame to answer with (none when this client closed first), and the ending. */
function answerClose(payload: Buffer, closing: boolean): { reply: Buffer | undefined; ending: Ending } {
  const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
  const reply = closing ? undefined : closeFrame(code === 1005 ? 1000 : code);
  return { reply, ending: closing || PROPER_CLOSE.has(code) ? { ok: true, reconnect: !closing } : { ok: false, reason: `closed with ${code}` } };
}

/** One connection, from the handshake to its end. */
function connection(target: LongLivedTarget, client: number): Promise<Ending> {
  const { host, port, path, requestTimeoutMs, counts } = target;
  return new Promise((resolve) => {
    const key = randomBytes(16).toString('base64');
    const socket = net.connect({ host, port });
    let buffer: Buffer = Buffer.alloc(0);
    let open = false;
    let closing = false;
    let settled = false;
    let pingSentAt: number | undefined;
    let lastError: string | undefined;
    const finish = (ending: Ending, graceful = false) => {
      if (settled) return;
      settled = true;
      clearInterval(ticker);
      unsubscribe();
      clearTimeout(openTimer);
      if (graceful) {
        socket.end();
        setTimeout(() => socket.destroy(), CLOSE_WAIT_MS).unref();
      } else socket.destroy();
      resolve(ending);
    };
    const openTimer = setTimeout(() => finish({ ok: false, reason: 'timeout (handshake)' }), requestTimeoutMs);
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(handshakeRequest(host, port, path, key)));
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (!open) {
        const handshake = readHandshake(buffer, key);
        if (handshake === undefined) return;
        if (typeof handshake === 'string') return finish({ ok: false, reason: handshake });
        open = true;
        clearTimeout(openTimer);
        buffer = handshake;
        counts.answered(client);
        if (counts.tally.stopping) beginClose();
      }
      const taken = takeFrames(buffer);
      if (!taken) return finish({ ok: false, reason: 'protocol error (masked server frame)' });
      buffer = taken.rest;
      for (const { opcode, payload } of taken.frames) {
        if (opcode === Opcode.Close) {
          const { reply, ending } = answerClose(payload, closing);
          if (reply) socket.write(reply);
          return finish(ending, true);
        }
        if (opcode === Opcode.Ping) socket.write(frame(Opcode.Pong, payload));
        else if (opcode === Opcode.Pong) {
          pingSentAt = undefined;
          counts.answered(client);
        }
      }
    });
    socket.on('error', (error) => (lastError = reasonOf(error)));
    socket.on('close', () => {
      if (!open) finish({ ok: false, reason: lastError ?? 'closed before the handshake' });
      else if (closing) finish({ ok: true, reconnect: false });
      else finish({ ok: false, reason: `cut (${lastError ?? 'closed without a close frame'})` });
    });
    // Stopping: a close frame 1000, then up to CLOSE_WAIT_MS for the server's (one still in its handshake: once open).
    const beginClose = () => {
      if (!open || closing || settled) return;
      closing = true;
      socket.write(closeFrame(1000));
      setTimeout(() => finish({ ok: true, reconnect: false }), CLOSE_WAIT_MS).unref();
    };
    const unsubscribe = counts.onStop(beginClose);
    const ticker = setInterval(() => {
      if (!open || closing) return;
      if (pingSentAt === undefined) {
        pingSentAt = performance.now();
        socket.write(frame(Opcode.Ping, Buffer.from(String(counts.messages))));
      } else if (performance.now() - pingSentAt > requestTimeoutMs) {
        finish({ ok: false, reason: 'timeout (no pong)' });
      }
    }, PING_INTERVAL_MS);
  });
}

export function startWebSocketLoad(options: LongLivedOptions): LongLivedLoad {
  return startLongLived(options, connection);
}
