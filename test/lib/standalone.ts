/**
 * Helpers for adapter tests that run an app standalone (no supervisor): read what a spawned fixture prints, and
 * send one GET on a real socket. Written by the Fastify/Nest adapter helper; used by packages/fastify/test and
 * packages/nest/test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { expect } from 'vitest';
import { startLoad, type LoadSummary } from './load.js';
import { track } from './processes.js';

export interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

/** One GET on a real socket; tests pass a keep-alive agent to see what the server does with the connection. */
export function get(port: number, path: string, agent: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, body }));
      })
      .on('error', reject);
  });
}

export interface Output {
  /** Everything printed so far. */
  text(): string;
  /** The first line starting with `prefix`; rejects if the child exits before printing it. */
  line(prefix: string): Promise<string>;
}

export function collectStdout(child: ChildProcess): Output {
  let text = '';
  const waiters: Array<{ prefix: string; resolve: (line: string) => void }> = [];
  const findLine = (prefix: string) => text.split('\n').find((candidate) => candidate.startsWith(prefix) && text.includes(`${candidate}\n`));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
    for (const waiter of [...waiters]) {
      const line = findLine(waiter.prefix);
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  return {
    text: () => text,
    line: (prefix) =>
      new Promise((resolve, reject) => {
        const line = findLine(prefix);
        if (line !== undefined) return resolve(line);
        waiters.push({ prefix, resolve });
        child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before printing "${prefix}"; stdout: ${text}`)));
      }),
  };
}

export interface SigtermRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  summary: LoadSummary;
  /** What the fixture printed at cleanup: requests finished and still in flight at that moment. */
  cleanup: { finished: number; inFlight: number } | undefined;
  stdout: string;
}

/**
 * Spawns a fixture that prints "listening <port>" and, in its cleanup, "cleanup finished=<n> inFlight=<n>"; puts
 * keep-alive load on it, sends SIGTERM while the clients keep sending, and waits for the exit. Refused connections
 * after the signal are expected (a standalone process stops listening); anything else is a failure.
 */
export async function runUnderSigterm(fixture: string, env: NodeJS.ProcessEnv = {}, requestsBefore = 400): Promise<SigtermRun> {
  const child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  track(child.pid);
  const stdout = collectStdout(child);
  const port = Number((await stdout.line('listening ')).split(' ')[1]);

  let signalled = false;
  const load = startLoad({ port, clients: 8, refusedIsExpected: () => signalled });
  await load.waitForRequests(requestsBefore);

  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  signalled = true;
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  const summary = await load.stop();
  const cleanup = /cleanup finished=(\d+) inFlight=(\d+)/.exec(stdout.text());
  return {
    code,
    signal,
    summary,
    cleanup: cleanup ? { finished: Number(cleanup[1]), inFlight: Number(cleanup[2]) } : undefined,
    stdout: stdout.text(),
  };
}

/**
 * Zero failed requests, exit 0, and the app's cleanup ran after the last response a client received (nothing in
 * flight at cleanup, and at least as many requests finished as the clients saw answered).
 */
export function expectCleanSigtermRun(run: SigtermRun, minimumOk = 400): void {
  expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
  expect(run.summary.failures).toEqual({});
  expect(run.summary.ok).toBeGreaterThanOrEqual(minimumOk);
  // The clients were told to leave (Connection: close) rather than having their sockets closed under them.
  expect(run.summary.connectionClose).toBeGreaterThan(0);
  expect(run.cleanup, run.stdout).toBeDefined();
  expect(run.cleanup!.inFlight).toBe(0);
  expect(run.cleanup!.finished).toBeGreaterThanOrEqual(run.summary.ok);
}
