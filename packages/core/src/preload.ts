/**
 * Loaded with `--require` into every worker the supervisor forks, before the app (CommonJS or ESM entry alike).
 * - It reports an uncaught exception's cause to the supervisor at once, so a worker that dies while booting (a
 *   throw at startup, a port in use, a missing setting) is named with the error, not only an exit code.
 * - Unless the supervisor says otherwise (`autoDrain: false`), it loads the worker side, so an app that imports
 *   nothing from this project still has its HTTP servers found at listen and drained gently. The worker side keeps
 *   one runtime per process on globalThis: an app that also imports `@zero-downtime/core/worker` or an adapter (from
 *   CommonJS, ESM, or another installed copy) joins this runtime instead of starting a second drain.
 * - When the supervisor owns listening sockets (`--listen`, socket activation), it maps the app's listen() on those
 *   addresses onto the inherited sockets (listen-map.ts); it is then loaded even with `autoDrain: false`.
 */
import { createRequire } from 'node:module';
import { summarizeError } from './error-summary.js';
import { WORKER_ENV, type FatalMessage } from './protocol.js';
import { closeOnDisconnect, installListenMap, parseListenFds } from './worker/listen-map.js';
import { sendToPrimary } from './worker/primary-channel.js';
import { installSticky } from './worker/sticky.js';

if (typeof process.send === 'function') {
  process.on('uncaughtExceptionMonitor', (error: unknown, origin: string) => {
    const message: FatalMessage = { zdt: 'fatal', origin, error: summarizeError(error) };
    sendToPrimary(message);
  });
}

// Before the app: its listen() on an address the supervisor owns is made on the inherited socket.
const listenFds = process.env[WORKER_ENV.listenFds];
if (listenFds) {
  const servers = installListenMap(parseListenFds(listenFds));
  if (process.env[WORKER_ENV.autoDrain] !== '1') closeOnDisconnect(servers);
}

// Sticky routing: the app's TCP listen() goes to the supervisor, which accepts and hands connections over.
if (process.env[WORKER_ENV.sticky]) installSticky();

if (process.env[WORKER_ENV.autoDrain] === '1') {
  // The published CommonJS build of the worker side, next to this file: loading it starts the runtime.
  createRequire(import.meta.url)('./worker.cjs');
}
