/**
 * The last close of a listening socket waits for a quiet queue (worker/quiet-close.ts): connections that arrive while
 * it waits are held unread, then answered by the server before it stops listening; whoever comes after is refused.
 * Real sockets on 127.0.0.1; the figures the explanation page gives are the code's.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeWhenQuiet, QUIET_BOUND_MS, QUIET_MS } from '../src/worker/quiet-close.js';

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

/** One request on a new connection: its status, or the error code the client saw. */
function ask(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const request = http.get({ port, host: '127.0.0.1', path: '/', agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('closeWhenQuiet', () => {
  it('answers what arrives while it waits, stops listening once nothing has arrived for QUIET_MS, then refuses', async () => {
    const server = http.createServer((request, response) => response.end('ok'));
    const port = await listen(server);
    const closedAt: number[] = [];
    const started = Date.now();
    closeWhenQuiet(server, () => {
      closedAt.push(Date.now());
      server.close();
    }, QUIET_BOUND_MS);
    // Arrive while it waits: held, then answered when it stops listening.
    const during = await Promise.all([ask(port), ask(port), ask(port)]);
    expect(during).toEqual([200, 200, 200]);
    expect(closedAt).toHaveLength(1);
    expect(closedAt[0]! - started).toBeGreaterThanOrEqual(QUIET_MS);
    expect(await ask(port)).toBe('ECONNREFUSED');
  });

  it('a server that is not listening is closed at once', () => {
    const server = http.createServer();
    let closed = 0;
    closeWhenQuiet(server, () => closed++, QUIET_BOUND_MS);
    expect(closed).toBe(1);
  });

  it('docs/explanation/connections.md gives the code’s figures', () => {
    const page = readFileSync(new URL('../../../docs/explanation/connections.md', import.meta.url), 'utf8');
    expect(page).toContain(`nothing has arrived for ${QUIET_MS} ms`);
    expect(page).toContain(`This waits at most ${QUIET_BOUND_MS / 1000} s`);
  });
});
