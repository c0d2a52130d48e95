/**
 * Core test plumbing on top of the shared testkit (load, processes, requests): fixture paths, a supervisor factory
 * with small timeouts, a scratch deploy directory, and the per-file cleanup that fails a test which left processes
 * behind.
 */
import { afterEach } from 'vitest';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killTracked, track, waitFor } from '@zero-downtime/testkit';
import { Supervisor, type Logger, type SupervisorOptions } from '../src/index.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
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
export async function startSupervisor(options: SupervisorOptions): Promise<Started> {
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
  supervisor.on('fork', ({ pid }) => track(pid, 'a worker of the test supervisor'));
  let port = 0;
  supervisor.on('listening', ({ address }) => {
    port ||= address.port;
  });
  await supervisor.start();
  // With readiness 'message' the app may say ready before the primary has seen its 'listening'.
  await waitFor(() => port > 0, 'a worker to listen');
  return { supervisor, port, logger };
}

/**
 * An app entry `app.cjs` in `directory` that loads one fixture, so a test can "deploy" by pointing it at another.
 * (The entry requires the fixture where it lives, so the fixture still finds its own dependencies.)
 */
export function releaseEntry(fixtureName: string, directory: string) {
  const entry = path.join(directory, 'app.cjs');
  const deploy = (name: string) => writeFileSync(entry, `require(${JSON.stringify(fixture(name))});\n`);
  deploy(fixtureName);
  return { entry, deploy };
}

/**
 * Per-file cleanup: after each test, force-stop the supervisor the test ran, fail the test if any tracked pid is
 * still alive (after SIGKILLing it), and run the registered cleanups.
 */
export function testContext() {
  const context = {
    running: undefined as Supervisor | undefined,
    cleanups: [] as Array<() => void>,
    /** A scratch directory (by its real path), removed after the test. */
    scratchDirectory(prefix = 'zdt-test-'): string {
      const directory = realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)));
      context.cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
      return directory;
    },
  };
  afterEach(async () => {
    await context.running?.stop({ force: true });
    context.running = undefined;
    // Whatever is still alive here was left behind by the code under test: fail, after killing it.
    const leftBehind = killTracked();
    for (const cleanup of context.cleanups.splice(0)) cleanup();
    if (leftBehind.length > 0) throw new Error(`processes left behind: ${leftBehind.join(', ')}`);
  });
  return context;
}
