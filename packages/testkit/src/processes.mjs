// Every process a test, the bench or the demo starts is tracked by pid and killed by pid (never by name), so a run
// leaves nothing behind. Waits are bounded, so a broken feature fails instead of hanging.
import { fork, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** pid -> what it is, for the processes started so far and not seen to exit. */
const tracked = new Map();
const cleanups = [];

export function track(pid, what = `pid ${pid}`) {
  if (pid) tracked.set(pid, what);
}

function untrack(pid) {
  tracked.delete(pid);
}

/** Registers an async cleanup (e.g. `pm2 kill` of a private daemon), run by cleanUp() before the pid sweep. */
export function onCleanup(cleanup) {
  cleanups.push(cleanup);
}

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses): state first. */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Direct children of `pid`, from /proc (Linux). */
export function childrenOf(pid) {
  const children = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(entry)[1]) === pid) children.push(Number(entry));
    } catch {
      // It exited while we were looking.
    }
  }
  return children.sort((a, b) => a - b);
}

function descendantsOf(pid) {
  return childrenOf(pid).flatMap((child) => [child, ...descendantsOf(child)]);
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
    const fields = statFields(pid);
    // utime and stime are fields 14 and 15 of stat(5); these fields start at field 3.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Sends `signal` to `pid` and its descendants, children first so none is re-parented and lost. */
export function killTree(pid, signal = 'SIGKILL') {
  for (const child of childrenOf(pid)) killTree(child, signal);
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** SIGKILLs every tracked process still alive, with its descendants; returns the pids that were still alive. */
export function killTracked() {
  const alive = [...tracked.keys()].filter(isAlive);
  for (const pid of alive) killTree(pid, 'SIGKILL');
  tracked.clear();
  return alive;
}

/** Runs the registered cleanups (newest first), then killTracked(); returns the pids that were still alive. */
export async function cleanUp() {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch {
      // Keep cleaning the rest.
    }
  }
  return killTracked();
}

/** For scripts (bench, demo): on SIGINT/SIGTERM clean up and exit 130/143; on any exit kill what is tracked. */
export function installSignalCleanup() {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ]) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping everything this run started...\n`);
      cleanUp().finally(() => process.exit(code));
    });
  }
  process.once('exit', killTracked);
}

/** Polls until `check` returns a truthy value and returns it; throws naming `what` after `timeoutMs`. */
export async function waitFor(check, what, { timeoutMs = 15_000, intervalMs = 20 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** `promise`, or a rejection naming `what` once `timeoutMs` has passed. */
export async function within(promise, timeoutMs, what) {
  let timer;
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** True once the pid is gone, false if it is still there after `timeoutMs`. */
export async function waitForExit(pid, timeoutMs = 15_000) {
  try {
    await waitFor(() => !isAlive(pid), `pid ${pid} to exit`, { timeoutMs });
    return true;
  } catch {
    return false;
  }
}

/** Stops a process gracefully with `signal`, then SIGKILLs its tree after `graceMs`, and any descendant left. */
export async function stopProcess(pid, { signal = 'SIGTERM', graceMs = 10_000 } = {}) {
  if (!pid) return;
  const descendants = descendantsOf(pid);
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
  if (!(await waitForExit(pid, graceMs))) killTree(pid, 'SIGKILL');
  // Workers of a primary that died are normally gone with its IPC channel; make sure.
  for (const child of descendants) if (isAlive(child)) killTree(child, 'SIGKILL');
  untrack(pid);
}

/** A port free on 127.0.0.1 right now, for programs that must be told their port (PM2, the examples). */
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

/**
 * Starts a tracked child (forked with an IPC channel when `ipc`), collecting what it prints line by line from both
 * streams; `onLine(line, stream)` sees each line as it comes.
 */
export function startProcess(command, args = [], { ipc = false, what, onLine, ...options } = {}) {
  const child = ipc
    ? fork(command, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], ...options })
    : spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  track(child.pid, what ?? [command, ...args].join(' '));
  const lines = [];
  const waiters = new Set();
  const notify = () => {
    for (const wake of waiters) wake();
  };
  for (const [stream, name] of [
    [child.stdout, 'stdout'],
    [child.stderr, 'stderr'],
  ]) {
    if (!stream) continue;
    let partial = '';
    stream.setEncoding('utf8').on('data', (chunk) => {
      partial += chunk;
      const complete = partial.split('\n');
      partial = complete.pop();
      for (const line of complete) {
        lines.push(line);
        onLine?.(line, name);
      }
      notify();
    });
  }
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      untrack(child.pid);
      resolve({ code, signal });
    });
  });
  // Output can still arrive after 'exit'; once 'close' has come, nothing more will.
  let closed = false;
  child.once('close', () => {
    closed = true;
    notify();
  });
  return {
    child,
    pid: child.pid,
    /** Every complete line printed so far, stdout and stderr as they came. */
    output: lines,
    exited,
    /** The first line matching `pattern`; rejects if the process exits first or after `timeoutMs`. */
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find((line) => pattern.test(line));
          if (found !== undefined) finish(resolve, found);
          else if (closed) finish(reject, new Error(`exited before printing a line matching ${pattern}; output:\n${lines.join('\n')}`));
        };
        const timer = setTimeout(() => finish(reject, new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.join('\n')}`)), timeoutMs);
        const finish = (settle, value) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle(value);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Runs a command to completion, bounded by `timeoutMs` (then SIGKILLed); resolves { code, signal, stdout, stderr, durationMs }. */
export function run(command, args = [], { timeoutMs = 120_000, ...options } = {}) {
  return new Promise((resolve) => {
    const began = Date.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    track(child.pid, [command, ...args].join(' '));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(error), durationMs: Date.now() - began });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      untrack(child.pid);
      resolve({ code, signal, stdout, stderr, durationMs: Date.now() - began });
    });
  });
}
