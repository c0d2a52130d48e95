// Process bookkeeping for the bench and the demo: every process started is
// tracked by pid and killed by pid (never by name), on normal exit and on
// SIGINT/SIGTERM too, so a run never leaves anything behind.
import { spawn, fork } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const tracked = new Map(); // pid -> description
const cleanups = [];

export function track(pid, what) {
  if (pid) tracked.set(pid, what);
}

export function untrack(pid) {
  tracked.delete(pid);
}

/** Registers an async cleanup (e.g. `pm2 kill` of the private daemon), run before the pid sweep. */
export function onCleanup(fn) {
  cleanups.push(fn);
}

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** Direct children of `pid`, from /proc (Linux). */
export function childrenOf(pid) {
  const children = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) children.push(Number(entry));
    } catch {
      // the process exited while we were looking
    }
  }
  return children.sort((a, b) => a - b);
}

/** Resident set size in bytes, or null when the process is gone. */
export function rssOf(pid) {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux architecture Node.js supports

/** CPU time (user + system) a process has used so far, in milliseconds; 0 when it is gone. */
export function cpuTimeMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5); fields here start at field 3.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Sends `signal` to `pid` and its descendants (children first so none is re-parented and lost). */
export function killTree(pid, signal = 'SIGKILL') {
  for (const child of childrenOf(pid)) killTree(child, signal);
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export async function waitFor(predicate, { timeoutMs = 10_000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export async function waitForExit(pid, timeoutMs = 10_000) {
  try {
    await waitFor(() => !isAlive(pid), { timeoutMs, intervalMs: 20, what: `pid ${pid} to exit` });
    return true;
  } catch {
    return false;
  }
}

/** Stops a process gracefully with `signal`, then SIGKILLs the tree after `graceMs`. */
export async function stopProcess(pid, { signal = 'SIGTERM', graceMs = 10_000 } = {}) {
  if (!pid) return;
  const descendants = [];
  const collect = (parent) => {
    for (const child of childrenOf(parent)) {
      descendants.push(child);
      collect(child);
    }
  };
  collect(pid);
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
  if (!(await waitForExit(pid, graceMs))) killTree(pid, 'SIGKILL');
  // Workers of a primary that died are normally gone with its IPC channel; make sure.
  for (const child of descendants) if (isAlive(child)) killTree(child, 'SIGKILL');
  untrack(pid);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One GET; resolves with { status, body } or rejects. */
export function get(port, path = '/', timeoutMs = 2_000) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode, body }));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

export async function waitForHttp(port, { timeoutMs = 20_000, path = '/echo?v=up' } = {}) {
  return waitFor(
    async () => {
      try {
        return (await get(port, path)).status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs, intervalMs: 50, what: `http://127.0.0.1:${port}${path}` },
  );
}

/** Keeps the last lines a tracked child printed (for error messages) and passes them to `log`. */
function captureOutput(child, what, log) {
  track(child.pid, what);
  const output = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk) => {
      output.push(chunk);
      if (output.length > 400) output.splice(0, 200);
      log?.(chunk);
    });
  }
  child.output = () => output.join('');
  child.on('exit', () => untrack(child.pid));
  return child;
}

/** Spawns a tracked child; its output is kept and passed to `log`. */
export function spawnTracked(command, args, { what, log, ...options } = {}) {
  return captureOutput(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options }), what ?? `${command} ${args.join(' ')}`, log);
}

/** Forks a tracked Node.js child with an IPC channel. */
export function forkTracked(modulePath, args, { what, log, ...options } = {}) {
  return captureOutput(fork(modulePath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], ...options }), what ?? modulePath, log);
}

/** Runs a command to completion; resolves { code, stdout, stderr, durationMs }. */
export function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const began = Date.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    track(child.pid, `${command} ${args.join(' ')}`);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.on('error', (error) => resolve({ code: -1, stdout, stderr: stderr + String(error), durationMs: Date.now() - began }));
    child.on('close', (code, signal) => {
      untrack(child.pid);
      resolve({ code: code ?? signal, stdout, stderr, durationMs: Date.now() - began });
    });
  });
}

/** Runs the cleanups registered so far, then SIGKILLs every tracked pid and its descendants. */
export async function cleanupNow() {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch {
      // keep cleaning the rest
    }
  }
  for (const pid of [...tracked.keys()]) killTree(pid, 'SIGKILL');
  tracked.clear();
}

let cleaning;
/** The final cleanup; concurrent callers (normal end, a signal) share one run. */
export function cleanupAll() {
  cleaning ??= cleanupNow();
  return cleaning;
}

/** On SIGINT/SIGTERM: clean up, then exit 130/143. */
export function installSignalCleanup() {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ]) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping everything this run started...\n`);
      cleanupAll().finally(() => process.exit(code));
    });
  }
  process.once('exit', () => {
    for (const pid of tracked.keys()) killTree(pid, 'SIGKILL');
  });
}
