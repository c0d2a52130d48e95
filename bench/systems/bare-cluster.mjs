// A bare node:cluster primary as people write it, following the seed's design
// with its evident bugs fixed: SIGUSR2 really restarts the workers, one at a
// time, kill-first (worker.disconnect(), then fork the replacement), a crashed
// worker is re-forked, and a worker that does not exit after disconnect is
// SIGKILLed at killTimeoutMs (without that bound a worker whose keep-alive
// clients stay busy never exits and the reload never ends).
//
// usage: node bare-cluster.mjs <app> [workers] ; env BARE_KILL_TIMEOUT_MS
// When forked with an IPC channel it reports events to its parent (the bench).
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import path from 'node:path';

const app = path.resolve(process.argv[2] ?? 'app.js');
const workerCount = Number(process.argv[3] ?? availableParallelism());
const killTimeoutMs = Number(process.env.BARE_KILL_TIMEOUT_MS ?? 5_000);

const report = (message) => process.connected && process.send?.(message);
const log = (...parts) => console.log('[bare-cluster]', ...parts);

cluster.setupPrimary({ exec: app });

let reloading = false;
let stopping = false;

function forkWorker() {
  const worker = cluster.fork();
  worker.once('listening', () => report({ type: 'listening', pid: worker.process.pid, at: Date.now() }));
  return worker;
}

cluster.on('exit', (worker, code, signal) => {
  report({ type: 'exit', pid: worker.process.pid, code, signal, at: Date.now() });
  if (stopping || reloading || worker.exitedAfterDisconnect) return;
  log(`worker ${worker.process.pid} died (${signal ?? code}), forking another`);
  setTimeout(forkWorker, 100).unref();
});

function waitExit(worker) {
  return new Promise((resolve) => {
    if (worker.isDead()) return resolve();
    const timer = setTimeout(() => {
      log(`worker ${worker.process.pid} still running ${killTimeoutMs} ms after disconnect: SIGKILL`);
      worker.process.kill('SIGKILL');
    }, killTimeoutMs);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function waitListening(worker) {
  return new Promise((resolve, reject) => {
    const onExit = (code, signal) => reject(new Error(`replacement ${worker.process.pid} exited before listening (${signal ?? `code ${code}`})`));
    worker.once('exit', onExit);
    worker.once('listening', () => {
      worker.off('exit', onExit);
      resolve();
    });
  });
}

async function reload() {
  if (reloading) return log('reload already running, ignored');
  reloading = true;
  const began = Date.now();
  const replaced = [];
  report({ type: 'reload:start', at: began });
  try {
    for (const worker of Object.values(cluster.workers)) {
      const oldPid = worker.process.pid;
      worker.disconnect();
      await waitExit(worker);
      const replacement = forkWorker();
      await waitListening(replacement);
      replaced.push({ oldPid, newPid: replacement.process.pid });
    }
    log(`reload done in ${Date.now() - began} ms`);
    report({ type: 'reload:done', ok: true, replaced, durationMs: Date.now() - began });
  } catch (error) {
    log(`reload failed: ${error.message}`);
    report({ type: 'reload:done', ok: false, replaced, error: error.message, durationMs: Date.now() - began });
  } finally {
    reloading = false;
  }
}

process.on('SIGUSR2', () => void reload());

function stop() {
  if (stopping) return;
  stopping = true;
  const workers = Object.values(cluster.workers);
  for (const worker of workers) worker.disconnect();
  setTimeout(() => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGKILL');
    process.exit(0);
  }, killTimeoutMs).unref();
  cluster.once('exit', function check() {
    if (Object.keys(cluster.workers).length === 0) process.exit(0);
    else cluster.once('exit', check);
  });
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

for (let index = 0; index < workerCount; index += 1) forkWorker();
log(`primary ${process.pid} forked ${workerCount} workers of ${app}`);
