/**
 * The WebSocket and server-sent events load clients `zdt verify` drives, against real servers on loopback (the ws
 * package for WebSocket): a proper close is counted ok and reopened, a close frame with another code and a connection
 * that ends without a proper end are failures, named.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { waitFor } from '@zero-downtime/testkit';
import { startEventStreamLoad, startWebSocketLoad, type LongLivedLoad } from '../src/load/index.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(server: http.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Every client open, then `act` on the server side, then (once the client saw each connection end) every client open again, then stop. */
async function through(load: LongLivedLoad, act: () => void, ended = 2) {
  await load.waitForOpen();
  act();
  await waitFor(() => load.progress().sent >= ended, `${ended} connections to end`);
  await load.waitForOpen();
  return load.stop();
}

describe('WebSocket load client', () => {
  async function webSocketServer() {
    const server = http.createServer();
    const sockets = new WebSocketServer({ server, path: '/ws' });
    const port = await listen(server);
    return { port, sockets };
  }

  it('counts a close frame 1001 as ok and opens a new connection', async () => {
    const { port, sockets } = await webSocketServer();
    const summary = await through(startWebSocketLoad({ port, path: '/ws', clients: 2 }), () => {
      for (const socket of sockets.clients) socket.close(1001, 'going away');
    });
    expect(summary.failed).toBe(0);
    expect(summary.reconnected).toBe(2);
    expect(summary.ok).toBe(4);
    expect(summary.messages).toBeGreaterThan(0);
  });

  it('names a close with another code, and a connection cut without a close frame', async () => {
    const { port, sockets } = await webSocketServer();
    const load = startWebSocketLoad({ port, path: '/ws', clients: 2 });
    const summary = await through(load, () => {
      const [first, second] = [...sockets.clients];
      first!.close(1011, 'internal error');
      second!.terminate();
    });
    expect(summary.failures).toEqual({ 'closed with 1011': 1, 'cut (closed without a close frame)': 1 });
    expect(summary.reconnected).toBe(0);
  });

  it('names a path that does not accept the handshake', async () => {
    const { port } = await webSocketServer();
    const load = startWebSocketLoad({ port, path: '/nothing', clients: 1, maxConnectionsPerClient: 1 });
    const summary = await load.done;
    expect(summary.failures).toEqual({ 'handshake status 400': 1 });
  });
});

describe('server-sent events load client', () => {
  async function eventServer(contentType = 'text/event-stream') {
    const streams = new Set<http.ServerResponse>();
    const server = http.createServer((request, response) => {
      response.writeHead(200, { 'content-type': contentType });
      response.write('data: hello\n\n');
      streams.add(response);
      response.on('close', () => streams.delete(response));
    });
    return { port: await listen(server), streams };
  }

  it('counts a stream the server ended as ok and opens a new one', async () => {
    const { port, streams } = await eventServer();
    const summary = await through(startEventStreamLoad({ port, path: '/events', clients: 2 }), () => {
      for (const stream of streams) stream.end('data: bye\n\n');
    });
    expect(summary.failed).toBe(0);
    expect(summary.reconnected).toBe(2);
    expect(summary.messages).toBeGreaterThanOrEqual(4);
  });

  it('names a stream whose connection closed before it ended', async () => {
    const { port, streams } = await eventServer();
    const summary = await through(startEventStreamLoad({ port, path: '/events', clients: 2 }), () => {
      for (const stream of streams) stream.socket!.destroy();
    });
    expect(Object.keys(summary.failures)).toHaveLength(1);
    expect(Object.keys(summary.failures)[0]).toMatch(/^cut \(/);
    expect(summary.failed).toBe(2);
  });

  it('counts a quiet stream as open: waiting for the clients does not wait for events', async () => {
    const { port } = await eventServer();
    const load = startEventStreamLoad({ port, path: '/events', clients: 2 });
    await load.waitForOpen();
    // No event comes after the first; a verify settle waits like this after every deploy event.
    await load.waitForOpen();
    expect((await load.stop()).failed).toBe(0);
  });

  it('names an answer that is not an event stream', async () => {
    const { port } = await eventServer('text/plain');
    const summary = await startEventStreamLoad({ port, path: '/events', clients: 1, maxConnectionsPerClient: 1 }).done;
    expect(summary.failures).toEqual({ 'not an event stream (content-type text/plain)': 1 });
  });
});
