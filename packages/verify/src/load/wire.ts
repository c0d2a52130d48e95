/**
 * HTTP/1.1 responses read straight off a socket, for the clients that write requests themselves: the pipelined client
 * and the throughput probe. Knows Content-Length and chunked bodies, which is what Node's servers send.
 */

export interface WireResponse {
  status: number;
  head: string;
  body: Buffer;
  /** The response said Connection: close: nothing after it on this connection will be answered. */
  closes: boolean;
}

/** Splits every complete response off the front of `buffer`; returns them and what is left. */
export function takeResponses(buffer: Buffer): { responses: WireResponse[]; rest: Buffer } {
  const responses: WireResponse[] = [];
  let rest = buffer;
  for (;;) {
    const headerEnd = rest.indexOf('\r\n\r\n');
    if (headerEnd < 0) break;
    const head = rest.subarray(0, headerEnd).toString('latin1');
    const lengthMatch = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let body: Buffer;
    let total: number;
    if (lengthMatch) {
      total = headerEnd + 4 + Number(lengthMatch[1]);
      if (rest.length < total) break;
      body = rest.subarray(headerEnd + 4, total);
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const decoded = dechunk(rest, headerEnd + 4);
      if (!decoded) break;
      [body, total] = decoded;
    } else {
      // No length and not chunked (a 204, 304, or a HEAD): no body.
      total = headerEnd + 4;
      body = Buffer.alloc(0);
    }
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    responses.push({ status, head, body, closes: /\r\nconnection:\s*close/i.test(head) });
    rest = rest.subarray(total);
  }
  return { responses, rest };
}

/** A chunked body from `start`: the body and the offset after it, or undefined until all of it has arrived. */
function dechunk(buffer: Buffer, start: number): [Buffer, number] | undefined {
  const parts: Buffer[] = [];
  let offset = start;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', offset);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(buffer.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) {
      const end = buffer.indexOf('\r\n\r\n', lineEnd);
      if (end < 0) return undefined;
      return [Buffer.concat(parts), end + 4];
    }
    if (buffer.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}

/** One request as bytes. */
export function requestBytes(method: string, path: string, host: string, body?: string, contentType = 'application/json'): Buffer {
  const length = body === undefined ? '' : `content-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
  return Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n${length}\r\n${body ?? ''}`);
}
