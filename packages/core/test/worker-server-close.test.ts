import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { configure, getDrainState, manageServer } from '../src/worker/index.js';
import { request, within } from '@zero-downtime/testkit';

// This file loads the worker side into the test process itself: keep it from reacting to signals or exiting.
configure({ signals: false, handleUncaughtExceptions: false, exit: false, logger: false });

describe('server.close() called by the app on a managed server', () => {
  it('drains only that server: the busy request finishes with Connection: close, the callback fires, the process keeps running', async () => {
    let release: () => void = () => {};
    let holding = false;
    const server = http.createServer((incoming, response) => {
      if (incoming.url === '/hold') {
        holding = true;
        release = () => response.end('held');
      } else {
        response.end('quick');
      }
    });
    manageServer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await request(port, { agent, path: '/' })).toMatchObject({ status: 200, connection: 'keep-alive' });
    const held = request(port, { agent, path: '/hold' });
    await within(
      (async () => {
        for (let attempt = 0; attempt < 500 && !holding; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      10_000,
      'held request reaching the server',
    );
    const closed = new Promise<Error | undefined>((resolve) => server.close(resolve));
    expect(server.listening).toBe(false);
    release();
    expect(await within(held, 10_000, 'held request')).toMatchObject({ status: 200, body: 'held', connection: 'close' });
    expect(await within(closed, 10_000, 'close callback')).toBeUndefined();
    expect(getDrainState()).toBe('running');
    agent.destroy();
  });
});
