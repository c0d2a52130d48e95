/**
 * Shared test plumbing: pid tracking (every test kills what it started, by
 * pid), bounded waits, an HTTP client loop that counts failures, and a
 * supervisor factory with small timeouts.
 */
import http from 'node:http';
import { afterEach } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Supervisor, type Logger, type SupervisorOptions } from '../src/index.js';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const CLI = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class PidTracker {
  readonly pids = new Set<number>();

  track(pid: number | undefined): void {
    if (pid !== undefined && pid > 0) this.pids.add(pid);
  }

  alive(): number[] {
    return [...this.pids].filter(isAlive);
  }

  killAll(): void {
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    this.pids.clear();
  }
}

/** Polls until `check` returns a truthy value; bounded, so a broken feature fails instead of hanging. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface Reply {
  status: number;
  body: string;
}

export function get(port: number, pathname = '/', agent?: http.Agent, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: pathname, agent: agent ?? false, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('request timed out')));
    request.on('error', reject);
  });
}

export function pidOf(reply: Reply): number {
  return (JSON.parse(reply.body) as { pid: number }).pid;
}

export interface LoadStats {
  ok: number;
  failed: number;
  errors: string[];
  pids: Set<number>;
}

/** Clients that keep sending requests until stopped, counting every failure (refused, reset, non-200). */
export function startLoad(port: number, options: { keepAlive: boolean; clients?: number }) {
  const agent = new http.Agent({ keepAlive: options.keepAlive, maxSockets: options.clients ?? 4 });
  const stats: LoadStats = { ok: 0, failed: 0, errors: [], pids: new Set() };
  let running = true;
  const client = async () => {
    while (running) {
      try {
        const reply = await get(port, '/', agent);
        if (reply.status === 200) {
          stats.ok++;
          stats.pids.add(pidOf(reply));
        } else {
          stats.failed++;
          stats.errors.push(`status ${reply.status}`);
        }
      } catch (error) {
        stats.failed++;
        stats.errors.push((error as NodeJS.ErrnoException).code ?? (error as Error).message);
      }
    }
  };
  const clients = Array.from({ length: options.clients ?? 4 }, client);
  return {
    stats,
    async stop(): Promise<LoadStats> {
      running = false;
      await Promise.all(clients);
      agent.destroy();
      return stats;
    },
  };
}

/** A logger that keeps lines for assertions (and prints nothing). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const record = (level: string) => (objectOrMessage: unknown, message?: string) => {
    lines.push(`${level} ${typeof objectOrMessage === 'string' ? objectOrMessage : (message ?? JSON.stringify(objectOrMessage))}`);
  };
  return { lines, info: record('info'), warn: record('warn'), error: record('error'), debug: record('debug') };
}

export interface Started {
  supervisor: Supervisor;
  port: number;
  logger: ReturnType<typeof memoryLogger>;
}

/** Starts a supervisor with small timeouts, tracking every pid it forks. */
export async function startSupervisor(options: SupervisorOptions, tracker: PidTracker): Promise<Started> {
  const logger = memoryLogger();
  const supervisor = new Supervisor({
    workers: 2,
    readyTimeoutMs: 10_000,
    drainTimeoutMs: 5_000,
    heartbeatIntervalMs: 0,
    silent: true,
    logger,
    ...options,
  });
  supervisor.on('fork', ({ pid }) => tracker.track(pid));
  let port = 0;
  supervisor.on('listening', ({ address }) => {
    port ||= address.port;
  });
  await supervisor.start();
  // With readiness 'message' the app may say ready before the primary has seen its 'listening'.
  await waitFor(() => port > 0, 'a worker to listen');
  return { supervisor, port, logger };
}

/** A scratch directory holding a copy of a fixture as the app entry, so tests can "deploy" by overwriting it. */
export function deployDirectory(fixtureName: string): { dir: string; entry: string; deploy: (name: string) => void; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdt-test-'));
  const entry = path.join(dir, 'app.cjs');
  copyFileSync(fixture(fixtureName), entry);
  return {
    dir,
    entry,
    deploy: (name) => copyFileSync(fixture(name), entry),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Per-file cleanup: after each test, force-stop the supervisor the test ran,
 * fail the test if any tracked pid is still alive (then SIGKILL it), and run
 * the registered cleanups.
 */
export function testContext() {
  const context = {
    tracker: new PidTracker(),
    running: undefined as Supervisor | undefined,
    cleanups: [] as Array<() => void>,
  };
  afterEach(async () => {
    await context.running?.stop({ force: true });
    context.running = undefined;
    // Whatever is still alive here was left behind by the code under test: fail, after killing it.
    const leftBehind = context.tracker.alive();
    context.tracker.killAll();
    for (const cleanup of context.cleanups.splice(0)) cleanup();
    if (leftBehind.length > 0) throw new Error(`processes left behind: ${leftBehind.join(', ')}`);
  });
  return context;
}
