/**
 * Requests per second of GET /ping with a lean client: raw keep-alive sockets, one request in flight per
 * connection, minimal response parsing. Not a second load client: it checks nothing but the status, and exists
 * because node:http's client costs more CPU than a trivial server, so with it throughput figures would measure the
 * client. Counts 200 responses per second.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { requestBytes, takeResponses } from './wire.js';

export interface ThroughputOptions {
  port: number;
  host?: string;
  /** @default 32 */
  connections?: number;
  /** @default 3_000 */
  durationMs?: number;
  /** @default '/ping' */
  path?: string;
}

export function measureThroughput({ port, host = '127.0.0.1', connections = 32, durationMs = 3_000, path = '/ping' }: ThroughputOptions) {
  const request = requestBytes('GET', path, `${host}:${port}`);
  let ok = 0;
  let failed = 0;
  const began = performance.now();
  const deadline = began + durationMs;
  const finished: Array<Promise<void>> = [];
  for (let index = 0; index < connections; index += 1) {
    finished.push(
      new Promise((resolve) => {
        const socket = net.connect({ host, port });
        socket.setNoDelay(true);
        let buffer: Buffer = Buffer.alloc(0);
        const send = () => {
          if (performance.now() >= deadline) socket.end();
          else socket.write(request);
        };
        socket.on('connect', send);
        socket.on('data', (chunk: Buffer) => {
          const { responses, rest } = takeResponses(buffer.length ? Buffer.concat([buffer, chunk]) : chunk);
          buffer = rest;
          for (const response of responses) {
            if (response.status === 200) ok += 1;
            else failed += 1;
            send();
          }
        });
        socket.on('error', () => {
          failed += 1;
        });
        socket.on('close', () => resolve());
      }),
    );
  }
  return Promise.all(finished).then(() => {
    const elapsed = performance.now() - began;
    return { rps: Math.round(ok / (elapsed / 1000)), ok, failed, durationMs: elapsed };
  });
}
