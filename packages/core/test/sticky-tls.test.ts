/**
 * Sticky routing in front of an app that serves TLS itself. The supervisor cannot read the request line of an https
 * connection, so under `--sticky sid` it routes such connections by client address (as `--sticky ip`) at once, and
 * says so once in its log; before, it waited for a line feed that a ClientHello may never contain (up to 10 s), then
 * placed each connection as a new session, round-robin. A real supervisor, two real workers, real TLS on 127.0.0.1.
 */
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor } from '../src/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
let running: Supervisor | undefined;
afterEach(async () => {
  await running?.stop({ force: true });
  running = undefined;
});

/** One GET /ping on a new TLS connection; the pid of the worker that answered. */
function pidOnNewConnection(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.get({ host: '127.0.0.1', port, path: '/ping', agent: false, rejectUnauthorized: false, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve((JSON.parse(body) as { pid: number }).pid));
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 5 s')));
    request.on('error', reject);
  });
}

describe('sticky sid in front of an https app', () => {
  it('routes TLS connections by client address at once, every one from this address to the same worker, and logs why', async () => {
    const warnings: string[] = [];
    const quiet = () => {};
    const logger = { info: quiet, debug: quiet, error: quiet, warn: (object: unknown, message?: string) => void warnings.push(String(message ?? object)) };
    const supervisor = new Supervisor({ entry: fixture('worker-https.cjs'), workers: 2, sticky: 'sid', logger, readyTimeoutMs: 20_000 });
    running = supervisor;
    let port = 0;
    supervisor.on('listening', (event: { address: { port: number } }) => (port = event.address.port));
    await supervisor.start();
    const pids = [];
    for (let request = 0; request < 6; request++) pids.push(await pidOnNewConnection(port));
    expect(new Set(pids).size).toBe(1);
    expect(supervisor.status().workers.map((worker) => worker.pid)).toContain(pids[0]);
    expect(warnings.filter((warning) => /start with TLS, so their session id cannot be read; they are routed by client address/.test(warning))).toHaveLength(1);
  });
});
