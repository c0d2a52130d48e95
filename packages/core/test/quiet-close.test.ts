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

  it('closes the listening socket before it answers what it held, so an answered client reconnects into no queue of its own', async () => {
    const server = http.createServer((request, response) => response.end('ok'));
    const port = await listen(server);
    const listeningFd = () => (server as unknown as { _handle: { fd: number } | null })._handle?.fd;
    const fdWhenAnswered: Array<number | undefined> = [];
    server.on('connection', () => fdWhenAnswered.push(listeningFd()));
    closeWhenQuiet(server, () => server.close(), QUIET_BOUND_MS);
    expect(await Promise.all([ask(port), ask(port)])).toEqual([200, 200]);
    // libuv sets a closed handle's fd to -1: the socket was closed when the server first saw each held connection.
    expect(fdWhenAnswered).toEqual([-1, -1]);
  });

  it('with `closed`, holds its connections until the promise settles, refusing newcomers meanwhile', async () => {
    const server = http.createServer((request, response) => response.end('ok'));
    const port = await listen(server);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let handleClosed = 0;
    const serverClosed = new Promise((resolve) => server.once('close', resolve));
    closeWhenQuiet(server, () => server.close(), QUIET_BOUND_MS, () => {
      handleClosed += 1;
      return released;
    });
    const held = Promise.all([ask(port), ask(port)]);
    for (let waited = 0; waited < 200 && handleClosed === 0; waited++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(handleClosed).toBe(1);
    expect(await ask(port)).toBe('ECONNREFUSED');
    expect(server.listening).toBe(true);
    release();
    expect(await held).toEqual([200, 200]);
    await serverClosed;
  });

  it('a server that is not listening is closed at once, and says so to `closed`', () => {
    const server = http.createServer();
    let closed = 0;
    let told = 0;
    closeWhenQuiet(server, () => closed++, QUIET_BOUND_MS, async () => void told++);
    expect([closed, told]).toEqual([1, 1]);
  });

  it('docs/explanation/connections.md gives the code’s figures', () => {
    const page = readFileSync(new URL('../../../docs/explanation/connections.md', import.meta.url), 'utf8');
    expect(page).toContain(`nothing has arrived for ${QUIET_MS} ms`);
    expect(page).toContain(`This waits at most ${QUIET_BOUND_MS / 1000} s`);
  });
});
