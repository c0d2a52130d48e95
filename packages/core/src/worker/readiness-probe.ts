/**
 * Readiness `http:PATH`: the worker is ready when its own server answers 2xx to `GET PATH`. The request must reach
 * this worker, not whichever worker the shared port hands the connection to, so it never goes through the shared
 * port: each server the app listens with gets a private entrance, a listener of this process alone on 127.0.0.1
 * (bound with `exclusive`, so node:cluster neither shares it nor tells the primary of it), and every connection it
 * accepts is handed to the app's server with `server.emit('connection', socket)`, the way a server takes a socket
 * it accepted itself. The request then goes through the app's real parser, handler and status code: an https or
 * HTTP/2 server does its TLS handshake (the probe checks no certificate), an HTTP/2 server (h2c, or TLS by ALPN)
 * is asked over an HTTP/2 session.
 *
 * Attempts start when a server emits 'listening' and repeat every PROBE_INTERVAL_MS until one passes; the
 * supervisor's ready timeout bounds them. Each changed failure is reported (`GET /healthz answered 503 "warming
 * up"`), so a worker refused at the timeout is refused with the last one.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { isManagedServer, LISTEN_CHANNEL } from './http-tracker.js';
import { isHttp2Server, type ManagedHttpServer } from './server-drain.js';

/** Between the end of one round of attempts and the next. */
export const PROBE_INTERVAL_MS = 200;
/** One attempt that gets no complete answer by then fails (and its connection is closed). */
export const PROBE_ATTEMPT_TIMEOUT_MS = 5_000;
/** How much of a failing answer's body the report quotes. */
const EXCERPT_CHARS = 80;
/** How much of the body is read at most. */
const BODY_LIMIT_BYTES = 1_024;
const USER_AGENT = 'zdt-readiness-probe';

type Outcome = { passed: true } | { passed: false; result: string };

export interface ProbeReport {
  /** The first 2xx: the probe has stopped. */
  passed(): void;
  /** What the latest round found, when it differs from the one before. */
  failed(result: string): void;
}

/** One of the app's servers and its private entrance, opened at its first attempt. */
interface Target {
  server: ManagedHttpServer;
  entrance?: Promise<net.Server>;
}

function isTls(server: object): boolean {
  // https and secure HTTP/2 servers are tls.Servers: they have addContext.
  return typeof (server as { addContext?: unknown }).addContext === 'function';
}

/** The first characters of a body, on one line, quoted; nothing for an empty body. */
function excerpt(body: Buffer): string {
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim();
  if (text === '') return '';
  return ` ${JSON.stringify(text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS)}...` : text)}`;
}

export class ReadinessProbe {
  private readonly targets: Target[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private lastResult: string | undefined;

  constructor(
    private readonly path: string,
    private readonly report: ProbeReport,
  ) {}

  private readonly onListen = (message: unknown): void => {
    const server = (message as { server?: unknown }).server;
    if (!isManagedServer(server) || this.targets.some((target) => target.server === server)) return;
    const target: Target = { server };
    this.targets.push(target);
    if (server.listening) this.schedule(0);
    else server.once('listening', () => this.schedule(0));
  };

  start(): void {
    diagnosticsChannel.subscribe(LISTEN_CHANNEL, this.onListen);
    this.note(`GET ${this.path} not sent yet: no HTTP server of the worker has listened`);
  }

  /** Passed, or the worker drains: no more attempts, entrances closed. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    diagnosticsChannel.unsubscribe(LISTEN_CHANNEL, this.onListen);
    clearTimeout(this.timer);
    for (const target of this.targets) void target.entrance?.then((entrance) => entrance.close());
  }

  private note(result: string): void {
    if (result === this.lastResult) return;
    this.lastResult = result;
    this.report.failed(result);
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.round(), delayMs);
    this.timer.unref();
  }

  /** One attempt per listening server, in the order they listened; the first server's failure is the one reported. */
  private async round(): Promise<void> {
    this.running = true;
    let firstFailure: string | undefined;
    for (const target of this.targets) {
      if (this.stopped || !target.server.listening) continue;
      const outcome = await this.attempt(target).catch((error: unknown): Outcome => ({ passed: false, result: `GET ${this.path} could not be sent: ${String(error)}` }));
      if (this.stopped) return;
      if (outcome.passed) {
        this.stop();
        this.report.passed();
        return;
      }
      firstFailure ??= outcome.result;
    }
    this.running = false;
    if (firstFailure !== undefined) this.note(firstFailure);
    this.schedule(PROBE_INTERVAL_MS);
  }

  private async attempt(target: Target): Promise<Outcome> {
    target.entrance ??= openEntrance(target.server);
    const { port } = (await target.entrance).address() as net.AddressInfo;
    const secure = isTls(target.server);
    return isHttp2Server(target.server) ? askHttp2(port, secure, this.path) : askHttp1(port, secure, this.path);
  }
}

/** A listener of this process alone whose connections go to `server`, as if it had accepted them. */
function openEntrance(server: ManagedHttpServer): Promise<net.Server> {
  const entrance = net.createServer((socket) => server.emit('connection', socket));
  entrance.unref();
  return new Promise((resolve, reject) => {
    entrance.once('error', reject);
    entrance.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve(entrance));
  });
}

function verdict(path: string, status: number, body: Buffer): Outcome {
  if (status >= 200 && status < 300) return { passed: true };
  return { passed: false, result: `GET ${path} answered ${status}${excerpt(body)}` };
}

function failure(path: string, error: Error & { code?: string }): Outcome {
  return { passed: false, result: `GET ${path} failed: ${error.code ? `${error.code} ` : ''}${error.message}` };
}

const CLOSED = (path: string): Outcome => ({ passed: false, result: `GET ${path} failed: the connection closed before the answer ended` });
const NO_ANSWER = (path: string): Outcome => ({ passed: false, result: `GET ${path} got no answer within ${PROBE_ATTEMPT_TIMEOUT_MS}ms` });

/** Reads up to BODY_LIMIT_BYTES of a body, then calls `done` once (at its end, or early when the limit is reached). */
function readBody(stream: NodeJS.ReadableStream & { destroy(): void }, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= BODY_LIMIT_BYTES) {
      done(Buffer.concat(chunks));
      stream.destroy();
    }
  });
  stream.on('end', () => done(Buffer.concat(chunks)));
}

function askHttp1(port: number, secure: boolean, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      request.destroy();
      resolve(outcome);
    };
    const options = { host: '127.0.0.1', port, path, method: 'GET', agent: false, headers: { 'user-agent': USER_AGENT } } as const;
    const request = secure ? https.request({ ...options, rejectUnauthorized: false }) : http.request(options);
    request.setTimeout(PROBE_ATTEMPT_TIMEOUT_MS, () => finish(NO_ANSWER(path)));
    request.on('error', (error) => finish(failure(path, error)));
    request.on('response', (response) => {
      response.on('error', (error) => finish(failure(path, error)));
      response.on('close', () => finish(CLOSED(path)));
      readBody(response, (body) => finish(verdict(path, response.statusCode ?? 0, body)));
    });
    request.end();
  });
}

function askHttp2(port: number, secure: boolean, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const session = http2.connect(`${secure ? 'https' : 'http'}://127.0.0.1:${port}`, secure ? { rejectUnauthorized: false } : {});
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish(NO_ANSWER(path)), PROBE_ATTEMPT_TIMEOUT_MS);
    timer.unref();
    session.on('error', (error) => finish(failure(path, error)));
    session.on('close', () => finish(CLOSED(path)));
    const stream = session.request({ ':method': 'GET', ':path': path, 'user-agent': USER_AGENT });
    stream.on('error', (error) => finish(failure(path, error)));
    stream.on('response', (headers) => {
      readBody(stream, (body) => finish(verdict(path, Number(headers[':status'] ?? 0), body)));
    });
    stream.end();
  });
}
