/**
 * The app under test: `zdt start` as a child process, with the user's arguments, a private control socket and a
 * private env file in a temporary directory (the env file is how a release is changed between reloads: a reload
 * re-reads it). The deploy events are control requests, as `zdt reload`, `zdt scale` and `zdt upgrade` send them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { sendControlCommand, StartFailedError, UsageError, type ControlRequest, type ControlResponse, type SupervisorStatus } from '@zero-downtime/core';

/** Lines of the supervisor's output kept for the report of a failure. */
const OUTPUT_LINES_KEPT = 200;

export class AppUnderTest {
  readonly directory = mkdtempSync(path.join(tmpdir(), 'zdt-verify-'));
  readonly controlPath = path.join(this.directory, 'zdt.sock');
  readonly envFile = path.join(this.directory, 'release.env');
  readonly output: string[] = [];
  /** The address the first worker listened on. */
  listening: { host: string; port: number } | undefined;
  /** Supervisors started by 'zdt upgrade', which outlive the child. */
  readonly successorPids: number[] = [];
  private child: ChildProcess | undefined;
  private exitedWith: string | undefined;
  private readonly waiters = new Set<() => void>();

  /**
   * `userEnvFile`: the env file the user's settings name, copied into the private one at every release. `zdt`: the
   * launcher of `zdt start` (core's bin/zdt.cjs); by default the @zero-downtime/core this package resolves.
   */
  constructor(
    private readonly startArgs: string[],
    private readonly userEnvFile: string | undefined,
    private readonly zdt = defaultZdt(),
  ) {
    this.writeRelease({});
  }

  /** Writes the env file the next reload reads: the user's own, plus `extra` (later lines win). */
  writeRelease(extra: Record<string, string>): void {
    if (this.userEnvFile) copyFileSync(this.userEnvFile, this.envFile);
    else writeFileSync(this.envFile, '');
    const lines = Object.entries(extra).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
    if (lines.length > 0) writeFileSync(this.envFile, `\n${lines.join('\n')}\n`, { flag: 'a' });
  }

  /**
   * Starts `zdt start`; resolves once the supervisor reports every worker ready (`zdt status`: running, as many ready
   * workers as wanted), so no traffic or event meets a worker still warming up or a supervisor still starting. Rejects
   * after `timeoutMs`, or with the output when it exits first.
   */
  async start(timeoutMs: number, bound: string): Promise<void> {
    const args = [...this.startArgs];
    const separator = args.indexOf('--');
    const own = separator >= 0 ? args.splice(0, separator) : args.splice(0);
    const child = spawn(process.execPath, [this.zdt, 'start', ...own, '--control', this.controlPath, '--env-file', this.envFile, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    this.child = child;
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        this.output.push(line);
        if (this.output.length > OUTPUT_LINES_KEPT) this.output.shift();
        const listening = /listening on (\[[^\]]+\]|[\w.:-]*?):(\d+)/.exec(line);
        if (listening && !this.listening) this.listening = { host: listening[1]!.replace(/^\[|\]$/g, ''), port: Number(listening[2]) };
      }
      for (const wake of this.waiters) wake();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code, signal) => {
      this.exitedWith = signal ? `signal ${signal}` : `exit ${code}`;
      for (const wake of this.waiters) wake();
    });
    await this.until(() => this.listening !== undefined && this.everyWorkerReady(), timeoutMs, `every worker ready (${bound})`);
  }

  private lastStatus: SupervisorStatus | undefined;
  private asking = false;
  /** From the last status answer (one request at a time, asked again at each check). */
  private everyWorkerReady(): boolean {
    if (!this.asking) {
      this.asking = true;
      void this.status()
        .then((status) => (this.lastStatus = status), () => {})
        .finally(() => (this.asking = false));
    }
    const status = this.lastStatus;
    return status !== undefined && status.state === 'running' && status.workers.filter((worker) => worker.state === 'ready').length >= status.workersWanted;
  }

  /** Resolves once `check()` holds; rejects naming `what` when the child exits or the time runs out. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const poll = setInterval(() => wake(), 50);
      const timer = setTimeout(() => done(new StartFailedError(`zdt start: waited ${timeoutMs}ms for ${what}\n${this.tail()}`)), timeoutMs);
      const done = (error?: Error) => {
        clearInterval(poll);
        clearTimeout(timer);
        this.waiters.delete(wake);
        if (error) reject(error);
        else resolve();
      };
      const wake = () => {
        if (check()) done();
        else if (this.exitedWith === 'exit 2' && this.successorPids.length === 0) done(new UsageError(`zdt start refused its arguments or configuration:\n${this.tail()}`));
        else if (this.exitedWith !== undefined && this.successorPids.length === 0) done(new StartFailedError(`zdt start ended (${this.exitedWith}) before ${what}\n${this.tail()}`));
      };
      this.waiters.add(wake);
      wake();
    });
  }

  /** The last lines the supervisor printed, indented, for a report. */
  tail(lines = 20): string {
    return this.output.slice(-lines).map((line) => `  | ${line}`).join('\n');
  }

  /** A control request; progress lines go to the output kept. */
  request(request: ControlRequest): Promise<Exclude<ControlResponse, { type: 'progress' }>> {
    return sendControlCommand(this.controlPath, request, (progress) => this.output.push(`(control) ${progress.message}`));
  }

  async status(): Promise<SupervisorStatus> {
    const response = await this.request({ command: 'status' });
    if (response.type === 'error') throw new Error(`${response.code}: ${response.message}`);
    return response.data as SupervisorStatus;
  }

  /** Stops the supervisor (a control stop); falls back to signals when it does not answer. */
  async stop(): Promise<Exclude<ControlResponse, { type: 'progress' }> | undefined> {
    let response: Exclude<ControlResponse, { type: 'progress' }> | undefined;
    try {
      response = await this.request({ command: 'stop' });
    } catch {
      this.kill('SIGTERM');
    }
    await this.until(() => this.exitedWith !== undefined && this.successorPids.every((pid) => !alive(pid)), 60_000, 'its exit after the stop').catch(() => this.kill('SIGKILL'));
    return response;
  }

  /** Signals the supervisor and any successor (each kills its own workers when it goes). */
  kill(signal: NodeJS.Signals): void {
    for (const pid of [this.child?.pid, ...this.successorPids]) {
      if (pid !== undefined && alive(pid)) process.kill(pid, signal);
    }
  }

  dispose(): void {
    if (this.exitedWith === undefined || this.successorPids.some(alive)) this.kill('SIGKILL');
    rmSync(this.directory, { recursive: true, force: true });
  }
}

/** The `zdt` launcher of the @zero-downtime/core this package resolves (a dependency of it). */
function defaultZdt(): string {
  const packageJson = createRequire(import.meta.url).resolve('@zero-downtime/core/package.json');
  return path.join(path.dirname(packageJson), 'bin', 'zdt.cjs');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
