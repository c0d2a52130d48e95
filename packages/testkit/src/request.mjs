// One request at a time, on a real socket: for checking an answer, a header or what happens to a connection.
// Load goes through load.mjs.
import http from 'node:http';
import https from 'node:https';
import { waitFor } from './processes.mjs';

/**
 * One GET; resolves { status, body, connection, reusedSocket } or rejects with the client's error. `agent` false (the
 * default) opens a connection for this request alone; pass a keep-alive agent to see what the server does with a
 * kept connection. `secure` speaks TLS and accepts the fixtures' self-signed certificate.
 */
export function request(port, { path = '/ping', agent = false, secure = false, timeoutMs = 15_000 } = {}) {
  const client = secure ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = client.request(
      { host: '127.0.0.1', port, path, agent, rejectUnauthorized: false, timeout: timeoutMs },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: text, connection: response.headers.connection, reusedSocket: outgoing.reusedSocket }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** GET `path` (the contract's /ping by default). */
export function get(port, path = '/ping', options = {}) {
  return request(port, { ...options, path });
}

/** The pid in a contract answer ({ pid } from /ping, { data, pid } from /echo). */
export function pidOf(reply) {
  return JSON.parse(reply.body).pid;
}

/** Resolves once GET `path` answers 200. */
export function waitForHttp(port, { timeoutMs = 20_000, path = '/ping' } = {}) {
  return waitFor(
    async () => {
      try {
        return (await get(port, path, { timeoutMs: 2_000 })).status === 200;
      } catch {
        return false;
      }
    },
    `http://127.0.0.1:${port}${path}`,
    { timeoutMs, intervalMs: 50 },
  );
}
