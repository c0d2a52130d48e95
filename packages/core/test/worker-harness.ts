/**
 * Plumbing for the worker-side tests: run a fixture as a real process, read its JSON-line events, send real
 * requests over keep-alive sockets, and kill by pid whatever is still alive at the end.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WORKER_FIXTURES = path.join(here, 'fixtures');
/** `ws` and `express` come from the private e2e package, which already depends on them. */
export const requireFromTestPackage = createRequire(path.join(here, '../../../test/package.json'));

export interface FixtureEvent {
  event: string;
  pid: number;
  [key: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const started = new Set<ChildProcess>();

/** SIGKILLs every process started through this module that has not exited (call in afterEach). */
export function killStarted(): void {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  started.clear();
}

export class Fixture {
  readonly child: ChildProcess;
  readonly events: FixtureEvent[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<Exit>;
  private readonly waiters = new Set<() => void>();

  constructor(script: string, options: { env?: Record<string, string>; ipc?: boolean; args?: string[] } = {}) {
    const file = path.resolve(WORKER_FIXTURES, script);
    const env = { ...process.env, ZDT_SUPERVISED: '', ...options.env };
    // Without ipc the fixture runs as it would alone (Kubernetes, systemd, Docker): no channel at all.
    this.child = options.ipc
      ? fork(file, options.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
      : spawn(process.execPath, [file, ...(options.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(this.child);
    // IPC messages from the fixture join the event list as { event: 'ipc', message }.
    this.child.on('message', (message) => {
      this.events.push({ event: 'ipc', pid: this.child.pid as number, message });
      this.notify();
    });
    let buffered = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.events.push(JSON.parse(line) as FixtureEvent);
        } catch {
          this.stderr.push(`stdout: ${line}`);
        }
      }
      this.notify();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.stderr.push(chunk));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        resolve({ code, signal });
        this.notify();
      });
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  private notify(): void {
    for (const wake of this.waiters) wake();
  }

  /** Resolves with the first event matching; rejects after `timeoutMs` or if the process exits first. */
  waitForEvent(name: string, match: (event: FixtureEvent) => boolean = () => true, timeoutMs = 15_000): Promise<FixtureEvent> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.events.find((event) => event.event === name && match(event));
        if (found) {
          finish();
          resolve(found);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          finish();
          reject(new Error(`fixture exited before "${name}"; stderr: ${this.stderr.join('')}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no "${name}" event within ${timeoutMs} ms; events: ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  async port(): Promise<number> {
    const listening = await this.waitForEvent('listening');
    return listening.port as number;
  }

  /** Waits for the exit, bounded: a process that does not exit fails the test instead of hanging it. */
  async waitForExit(timeoutMs = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`pid ${this.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface Reply {
  status: number;
  body: string;
  connection: string | undefined;
  reusedSocket: boolean;
}

export function request(
  port: number,
  options: { path?: string; method?: string; body?: string; agent?: http.Agent | false; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 15_000,
        headers: options.body === undefined ? {} : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(options.body) },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body, connection: response.headers.connection, reusedSocket: outgoing.reusedSocket }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('request timed out')));
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

export interface LoadResult {
  sent: number;
  succeeded: number;
  /** Sent on a socket and then lost: reset, hang up, wrong status or wrong echo. */
  failed: Array<{ method: string; error: string }>;
  /** Connection attempts refused before any byte was sent (a process alone after it stopped listening). */
  refused: number;
}

/**
 * Keep-alive clients sending GET and POST (with an echo check) in a loop until `stop()`; bounded by `maxRequests`
 * per client so a stuck test cannot loop forever.
 */
export function startLoad(port: () => number, clients = 8, maxRequests = 20_000): { stop: () => Promise<LoadResult>; result: LoadResult } {
  const result: LoadResult = { sent: 0, succeeded: 0, failed: [], refused: 0 };
  let running = true;
  const loops: Array<Promise<void>> = [];
  for (let client = 0; client < clients; client += 1) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    loops.push(
      (async () => {
        for (let index = 0; running && index < maxRequests; index += 1) {
          const post = index % 2 === 1;
          const body = post ? `client ${client} request ${index} ${'x'.repeat(index % 50)}` : undefined;
          try {
            const reply = await request(port(), { agent, method: post ? 'POST' : 'GET', path: post ? '/echo' : '/', body });
            result.sent += 1;
            if (reply.status !== 200 || (post && reply.body !== body)) {
              result.failed.push({ method: post ? 'POST' : 'GET', error: `status ${reply.status}, body ${reply.body.slice(0, 80)}` });
            } else {
              result.succeeded += 1;
            }
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            if (code === 'ECONNREFUSED') {
              result.refused += 1;
              await new Promise((resolve) => setTimeout(resolve, 20));
            } else {
              result.sent += 1;
              result.failed.push({ method: post ? 'POST' : 'GET', error: `${code ?? ''} ${(error as Error).message}` });
            }
          }
        }
        agent.destroy();
      })(),
    );
  }
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Bounds any wait so a broken feature fails the test instead of hanging it. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
