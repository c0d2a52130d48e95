/**
 * Loaded with `--require` into every worker the supervisor forks, before the app. It changes nothing in the app's
 * behaviour: it only watches for an uncaught exception and tells the supervisor its cause at once, so a worker that
 * dies while booting (a throw at startup, a port in use, a missing setting) is reported with the error, not only
 * with an exit code, whether or not the app loads the worker module.
 */
import { summarizeError } from './error-summary.js';
import type { FatalMessage } from './protocol.js';

if (typeof process.send === 'function') {
  process.on('uncaughtExceptionMonitor', (error: unknown, origin: string) => {
    if (typeof process.send !== 'function' || !process.connected) return;
    const message: FatalMessage = { zdt: 'fatal', origin, error: summarizeError(error) };
    try {
      process.send(message);
    } catch {
      // The channel is closing: the supervisor still sees the exit.
    }
  });
}
