/**
 * The worker side of a canary window (worker/status-count.ts), on a real HTTP server: it counts responses and 5xx
 * only between open and close, and outside a window nothing is subscribed to `http.server.response.finish`, so node
 * publishes nothing per response.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StatusCount } from '../src/worker/status-count.js';

const channel = diagnosticsChannel.channel('http.server.response.finish');
let server: http.Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

describe('StatusCount', () => {
  it('counts responses and 5xx only while a window is open, and unsubscribes when it closes', async () => {
    server = http.createServer((request, response) => {
      response.statusCode = request.url === '/fail' ? 503 : 200;
      response.end();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const count = new StatusCount();
    expect(channel.hasSubscribers).toBe(false);

    await get(port, '/');
    count.openWindow(7);
    expect(channel.hasSubscribers).toBe(true);
    expect(await Promise.all([get(port, '/'), get(port, '/fail'), get(port, '/')])).toEqual([200, 503, 200]);
    expect(count.closeWindow(7)).toEqual({ requests: 3, errors: 1 });
    expect(channel.hasSubscribers).toBe(false);
    await get(port, '/fail');

    // A window the worker never opened (it was forked since) answers zeros.
    expect(count.closeWindow(8)).toEqual({ requests: 0, errors: 0 });
    count.openWindow(9);
    count.abandon();
    expect(channel.hasSubscribers).toBe(false);
  });
});
