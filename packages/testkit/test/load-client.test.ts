/**
 * The load client is what every "zero failed requests" claim rests on: it must see each kind of failure, by its
 * reason, and never count a broken answer as served. A real server on a real socket misbehaves on purpose.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFetchLoad, startLoad, startPipelinedLoad } from '@zero-downtime/testkit';
import { serveContract } from '@zero-downtime/testkit/app';

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(handler: Handler): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = http.createServer(handler);
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

/** Two clients, four requests each: two GET /ping and two POST /echo per client. */
const bounded = { clients: 2, maxRequestsPerClient: 4 };

describe('the load client', () => {
  it('counts answers that keep the contract as served, with the pids that gave them', async () => {
    const { port } = await serve((request, response) => serveContract(request, response));
    const summary = await startLoad({ port, ...bounded }).done;
    expect(summary).toMatchObject({ sent: 8, ok: 8, failed: 0, failures: {}, refusedExpected: 0, connectionClose: 0 });
    expect([...summary.pids]).toEqual([process.pid]);
    expect(summary.oks).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it.each<[string, Handler, Record<string, number>]>([
    ['a bad status', (_request, response) => response.writeHead(503).end(), { 'status 503': 8 }],
    [
      'an echo that is not what was sent',
      (request, response) => {
        if (request.method === 'POST') response.end(JSON.stringify({ data: 'something else', pid: process.pid }));
        else serveContract(request, response);
      },
      { 'echo mismatch': 4 },
    ],
    ['an answer without a pid', (_request, response) => response.end('hello'), { 'unexpected body': 8 }],
    ['a connection closed before the answer', (request) => request.socket.destroy(), { 'socket hang up': 8 }],
    [
      'an answer cut in the middle',
      (_request, response) => {
        response.writeHead(200, { 'content-length': '100' });
        response.write('{"pid":');
        setTimeout(() => response.socket?.destroy(), 20);
      },
      { ECONNRESET: 8 },
    ],
  ])('counts %s as failed, by reason', async (_what, handler, failures) => {
    const { port } = await serve(handler);
    const summary = await startLoad({ port, ...bounded }).done;
    expect(summary.failures).toEqual(failures);
    const failed = Object.values(failures).reduce((sum, count) => sum + count, 0);
    expect(summary).toMatchObject({ sent: 8, failed, ok: 8 - failed });
  });

  it('fails a request that is never answered as a timeout', async () => {
    const { port } = await serve(() => {});
    const summary = await startLoad({ port, clients: 2, maxRequestsPerClient: 1, requestTimeoutMs: 200 }).done;
    expect(summary).toMatchObject({ sent: 2, ok: 0, failures: { timeout: 2 } });
  });

  it('counts refused connections as failures, or apart while they are expected', async () => {
    const { port } = await serve(() => {});
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect((await startLoad({ port, ...bounded }).done).failures).toEqual({ ECONNREFUSED: 8 });
    const expected = await startLoad({ port, ...bounded, refusedIsExpected: () => true }).done;
    expect(expected).toMatchObject({ sent: 0, failed: 0, failures: {}, refusedExpected: 8 });
  });

  it('counts the answers that carried Connection: close', async () => {
    const { port } = await serve((request, response) => {
      response.setHeader('connection', 'close');
      serveContract(request, response);
    });
    expect(await startLoad({ port, ...bounded }).done).toMatchObject({ ok: 8, connectionClose: 8 });
  });

  it('keeps one connection per client, or opens one per request', async () => {
    const kept = await serve((request, response) => serveContract(request, response));
    expect(await startLoad({ port: kept.port, ...bounded }).done).toMatchObject({ ok: 8 });
    expect(kept.connections()).toBe(2);
    const fresh = await serve((request, response) => serveContract(request, response));
    expect(await startLoad({ port: fresh.port, ...bounded, keepAlive: false }).done).toMatchObject({ ok: 8 });
    expect(fresh.connections()).toBe(8);
  });

  it('waits for a number of requests, and says so when its bound comes first', async () => {
    const { port } = await serve((request, response) => serveContract(request, response));
    const load = startLoad({ port, ...bounded });
    await load.waitForRequests(4);
    expect(load.progress().sent).toBeGreaterThanOrEqual(4);
    await expect(load.waitForRequests(100)).rejects.toThrow(/reached its bound .* before 100 more requests/);
    expect((await load.stop()).sent).toBe(8);
  });
});

describe('the routes, fetch and pipelined clients', () => {
  const routes = [
    { method: 'GET', path: '/ping', status: 200 },
    { method: 'POST', path: '/echo', echo: true },
  ];

  it('checks each route by its own status and echo, and keeps when each failure was sent and seen', async () => {
    const { port } = await serve((request, response) => {
      if (request.method === 'GET') return response.writeHead(204).end();
      serveContract(request, response);
    });
    const summary = await startLoad({ port, routes, ...bounded }).done;
    expect(summary.failures).toEqual({ 'status 204': 4 });
    expect(summary.ok).toBe(4);
    expect(summary.failureLog).toHaveLength(4);
    for (const failure of summary.failureLog) expect(failure.at).toBeGreaterThanOrEqual(failure.began);
  });

  it('fetch: answers per route, failures by the reason undici gives', async () => {
    const { port } = await serve((request, response) => serveContract(request, response));
    const summary = await startFetchLoad({ port, routes, ...bounded }).done;
    expect(summary).toMatchObject({ sent: 8, ok: 8, failed: 0 });
    const broken = await serve((request) => request.socket.destroy());
    const failedSummary = await startFetchLoad({ port: broken.port, routes, ...bounded }).done;
    expect(failedSummary.failed).toBe(8);
    expect(Object.keys(failedSummary.failures)).toEqual(['UND_ERR_SOCKET']);
  });

  it('pipelined: reads chunked and sized answers in order, and resends what a clean close left unanswered', async () => {
    let served = 0;
    const { port } = await serve((request, response) => {
      served += 1;
      // Every third answer closes the connection: what was pipelined behind it is sent again, not failed.
      if (served % 3 === 0) response.setHeader('connection', 'close');
      if (served % 2 === 0) response.write(JSON.stringify({ pid: process.pid }));
      else response.setHeader('content-length', Buffer.byteLength(JSON.stringify({ pid: process.pid })));
      response.end(served % 2 === 0 ? undefined : JSON.stringify({ pid: process.pid }));
    });
    const summary = await startPipelinedLoad({ port, routes: [{ method: 'GET', path: '/ping', status: 200, requirePid: true }], clients: 2, depth: 4, maxRequestsPerClient: 12 }).done;
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThanOrEqual(24);
    expect(summary.retried).toBeGreaterThan(0);
  });

  it('pipelined: a reset before any answer said the connection closes fails what it left unanswered', async () => {
    const { port } = await serve((request) => request.socket.resetAndDestroy());
    const summary = await startPipelinedLoad({ port, routes, clients: 1, depth: 4, maxRequestsPerClient: 4 }).done;
    expect(summary.sent).toBe(4);
    expect(summary.failures).toEqual({ ECONNRESET: 4 });
  });
});
