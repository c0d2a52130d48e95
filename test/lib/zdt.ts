/**
 * `zdt` as a user runs it: `zdt start` in the foreground with its output collected, and the client commands run
 * asynchronously (so load clients in the test process keep running while a reload is under way).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track } from './processes.js';

export const ZDT = fileURLToPath(new URL('../../packages/core/bin/zdt.cjs', import.meta.url));

export interface RunningZdt {
  child: ChildProcess;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  workerPids(): number[];
  port(): number;
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** `zdt start ...args`; every worker pid it prints is tracked for cleanup. */
export function zdtStart(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunningZdt {
  const child = spawn(process.execPath, [ZDT, 'start', ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child.pid);
  const output: string[] = [];
  const pids: number[] = [];
  let port = 0;
  let partial = '';
  const collect = (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      output.push(line);
      const forked = /forked \(pid (\d+)/.exec(line);
      if (forked) {
        pids.push(Number(forked[1]));
        track(Number(forked[1]));
      }
      const listening = /listening on [\d.]+:(\d+)/.exec(line);
      if (listening && !port) port = Number(listening[1]);
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output,
    exited,
    workerPids: () => [...pids],
    port: () => port,
    async waitForLine(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = output.find((line) => pattern.test(line));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no line matching ${pattern} within ${timeoutMs}ms; output:\n${output.join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
}

export interface ZdtResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A client command (`reload`, `status`, `stop`), bounded in time. */
export function zdt(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ZdtResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ZDT, ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    track(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`zdt ${args.join(' ')} did not finish within ${options.timeoutMs ?? 120_000}ms`));
    }, options.timeoutMs ?? 120_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
