/**
 * The drain costs nothing per request until it starts: connections are followed, requests are not. What it owes
 * requests (Connection: close, counting what finishes) starts at the drain's start, and reads node's own per-socket
 * state for the requests already in flight then.
 */
import net from 'node:net';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { killTracked, request, within } from '@zero-downtime/testkit';
import { Fixture } from './worker-harness.js';

afterEach(killTracked);

/** Reads everything a raw connection receives until the server closes it. */
function readUntilClosed(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('close', () => resolve(text));
    socket.once('error', reject);
  });
}

/** The status lines of the answers read off a connection (a body runs straight into the next status line). */
function statusLines(text: string): string[] | null {
  return text.match(/HTTP\/1\.1 \d{3} [A-Z ]+(?=\r\n)/g);
}

/**
 * A fixture draining (SIGTERM) with a long idle grace, and a keep-alive connection opened before: `requests` are
 * written on it at once, pipelined; resolves with everything read until the server closes the connection.
 */
async function pipelineDuringDrain(...requests: string[]): Promise<{ app: Fixture; text: string }> {
  const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '5000', DRAIN_TIMEOUT_MS: '10000' } });
  const port = await app.port();
  const socket = net.connect(port, '127.0.0.1');
  const received = readUntilClosed(socket);
  await new Promise((resolve) => socket.once('connect', resolve));
  process.kill(app.pid, 'SIGTERM');
  await app.waitForEvent('drain-start');
  socket.write(requests.map((line) => `${line} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
  return { app, text: await within(received, 15_000, `answers to ${requests.join(', ')} and the close`) };
}

describe('the request path before and during the drain', () => {
  it('follows no request and wraps nothing while serving; from the drain start on it follows every request', async () => {
    const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '5000', DRAIN_TIMEOUT_MS: '10000' } });
    const port = await app.port();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await request(port, { agent, path: '/request-work' });
    expect(before).toMatchObject({ status: 200, connection: 'keep-alive' });
    expect(JSON.parse(before.body)).toEqual({ followsRequests: false, emitWrapped: false });

    process.kill(app.pid, 'SIGTERM');
    await app.waitForEvent('drain-start');
    const during = await request(port, { agent, path: '/request-work' });
    expect(during).toMatchObject({ status: 200, connection: 'close', reusedSocket: true });
    expect(JSON.parse(during.body)).toEqual({ followsRequests: true, emitWrapped: false });
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    expect((await app.waitForEvent('cleanup')).report).toMatchObject({ clean: true, cut: 0, served: 1, inFlightAtStart: 0 });
    agent.destroy();
  });

  it('answers every pipelined request parsed before the drain started, then closes the idle connection', async () => {
    const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '300', DRAIN_TIMEOUT_MS: '10000' } });
    const port = await app.port();
    const socket = net.connect(port, '127.0.0.1');
    const received = readUntilClosed(socket);
    socket.write('GET /slow?ms=400 HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n');
    await app.waitForEvent('slow-started');

    process.kill(app.pid, 'SIGTERM');
    const text = await within(received, 15_000, 'pipelined answers and the close');
    // Answers follow each other on the wire without a separator: a body runs straight into the next status line.
    expect(statusLines(text)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
    expect(text).toContain('slow done');
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    expect((await app.waitForEvent('cleanup')).report).toMatchObject({ clean: true, cut: 0, served: 3, inFlightAtStart: 1, idleClosed: 1 });
  });

  it('pipelined during the drain: Connection: close goes on the last answer queued, and every request is answered', async () => {
    // Parsed at once, answered in order: the first two answers wait for the app, the third is written at once.
    const { app, text } = await pipelineDuringDrain('GET /slow?ms=200', 'GET /slow?ms=10', 'GET /ping');
    expect(statusLines(text)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
    const connectionHeaders = text.match(/\r\nConnection: [a-z-]+/gi)?.map((line) => line.trim());
    expect(connectionHeaders).toEqual(['Connection: keep-alive', 'Connection: keep-alive', 'Connection: close']);
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    expect((await app.waitForEvent('cleanup')).report).toMatchObject({ clean: true, cut: 0, served: 3, unprocessed: 0, idleClosed: 0 });
  });

  it('a request parsed after its connection\'s closing answer went out is never handed to the app, and is counted', async () => {
    // /ping is answered inside the parse, before the two behind it are parsed: its answer says close and goes out.
    const { app, text } = await pipelineDuringDrain('GET /ping', 'GET /slow?ms=10', 'GET /slow?ms=10');
    expect(statusLines(text)).toEqual(['HTTP/1.1 200 OK']);
    expect(text).toContain('Connection: close');
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    expect((await app.waitForEvent('cleanup')).report).toMatchObject({ clean: true, cut: 0, served: 1, unprocessed: 2 });
    expect(app.events.filter((event) => event.event === 'slow-started')).toEqual([]);
  });

  it('a handler that throws synchronously behind a pipelined request: the request ahead is answered, then the connection closes, nothing is cut', async () => {
    const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '100', DRAIN_TIMEOUT_MS: '10000' } });
    const port = await app.port();
    const socket = net.connect(port, '127.0.0.1');
    const received = readUntilClosed(socket);
    socket.write('GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\nGET /throw HTTP/1.1\r\nHost: x\r\n\r\n');

    const text = await within(received, 15_000, 'the answer ahead and the close');
    expect(statusLines(text)).toEqual(['HTTP/1.1 200 OK']);
    expect(text).toContain('Connection: close');
    expect(text).toContain('slow done');
    expect(await app.waitForExit()).toEqual({ code: 1, signal: null });
    expect((await app.waitForEvent('cleanup')).report).toMatchObject({ reason: 'uncaughtException', clean: true, cut: 0 });
  });

  it('a request in flight at the drain start finishes with Connection: close; a keep-alive socket that stays idle is closed after its grace', async () => {
    const app = new Fixture('worker-app.cjs', { env: { IDLE_GRACE_MS: '200', DRAIN_TIMEOUT_MS: '10000' } });
    const port = await app.port();
    const idle = net.connect(port, '127.0.0.1');
    const idleClosed = readUntilClosed(idle);
    idle.write('GET /ping HTTP/1.1\r\nHost: x\r\n\r\n');
    const agent = new http.Agent({ keepAlive: true });
    const slow = request(port, { agent, path: '/slow?ms=500' });
    await app.waitForEvent('slow-started');

    process.kill(app.pid, 'SIGTERM');
    expect(await within(slow, 15_000, 'slow request')).toMatchObject({ status: 200, body: 'slow done', connection: 'close' });
    expect(await within(idleClosed, 15_000, 'idle socket closed')).toContain('Connection: keep-alive');
    expect(await app.waitForExit()).toEqual({ code: 0, signal: null });
    expect((await app.waitForEvent('cleanup')).report).toMatchObject({ clean: true, cut: 0, served: 1, inFlightAtStart: 1, idleClosed: 1 });
    agent.destroy();
  });
});
