import type { WorkerLogger } from './options.js';
import type { DrainStartHook, DrainStartInfo, ShutdownHook, ShutdownHookOptions, ShutdownInfo } from './types.js';

interface RegisteredShutdownHook {
  hook: ShutdownHook;
  name: string;
  timeoutMs: number | undefined;
}

type Outcome = { kind: 'ok' } | { kind: 'timeout' } | { kind: 'error'; error: unknown };

/**
 * Runs a hook with a bound. `holdProcess` keeps the bound's timer referenced: a cleanup hook awaiting a promise that
 * nothing else keeps alive must still time out so the next hooks run, instead of node exiting in the middle.
 */
function runBounded(run: () => unknown, timeoutMs: number, holdProcess = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
    if (!holdProcess) timer.unref();
    Promise.resolve()
      .then(run)
      .then(
        () => {
          clearTimeout(timer);
          resolve({ kind: 'ok' });
        },
        (error: unknown) => {
          clearTimeout(timer);
          resolve({ kind: 'error', error });
        },
      );
  });
}

/** The app's drain-start hooks (`onDrainStart`) and cleanup hooks (`onShutdown`). */
export class Hooks {
  private readonly shutdownHooks: RegisteredShutdownHook[] = [];
  private readonly drainStartHooks = new Set<DrainStartHook>();

  addShutdownHook(hook: ShutdownHook, options: ShutdownHookOptions): () => void {
    const entry: RegisteredShutdownHook = {
      hook,
      name: options.name ?? (hook.name || `hook ${this.shutdownHooks.length + 1}`),
      timeoutMs: options.timeoutMs,
    };
    this.shutdownHooks.push(entry);
    return () => {
      const index = this.shutdownHooks.indexOf(entry);
      if (index !== -1) this.shutdownHooks.splice(index, 1);
    };
  }

  addDrainStartHook(hook: DrainStartHook): () => void {
    // Wrapped so that registering one function twice gives two registrations, each with its own uninstaller.
    const wrapped: DrainStartHook = (info) => hook(info);
    this.drainStartHooks.add(wrapped);
    return () => {
      this.drainStartHooks.delete(wrapped);
    };
  }

  /**
   * Not awaited: the drain goes on while the app closes its long-lived exchanges. Each hook is bounded by the HTTP
   * drain deadline, after which the exchanges it was closing are destroyed anyway.
   */
  callDrainStart(reason: string, longLived: () => DrainStartInfo['longLived'], deadlineAt: number, logger: WorkerLogger): void {
    if (this.drainStartHooks.size === 0) return;
    const info: DrainStartInfo = { reason, longLived: longLived() };
    for (const hook of this.drainStartHooks) {
      void runBounded(() => hook(info), Math.max(0, deadlineAt - Date.now())).then((outcome) => {
        if (outcome.kind === 'error') logger.error({ err: outcome.error }, 'onDrainStart hook failed');
      });
    }
  }

  /**
   * Cleanup in registration order, each bounded by its own `timeoutMs` (else `defaultTimeoutMs`) and none running
   * past `deadlineAt`. Resolves false when a hook failed or timed out.
   */
  /** Runs the cleanup hooks; resolves how many failed or timed out. */
  async runShutdown(info: ShutdownInfo, defaultTimeoutMs: number, deadlineAt: number, logger: WorkerLogger): Promise<number> {
    let failures = 0;
    for (const entry of [...this.shutdownHooks]) {
      const boundMs = Math.max(0, Math.min(entry.timeoutMs ?? defaultTimeoutMs, deadlineAt - Date.now()));
      const outcome = await runBounded(() => entry.hook(info), boundMs, true);
      if (outcome.kind === 'timeout') {
        failures += 1;
        logger.warn({ hook: entry.name, timeoutMs: boundMs }, `cleanup hook "${entry.name}" timed out`);
      } else if (outcome.kind === 'error') {
        failures += 1;
        logger.error({ hook: entry.name, err: outcome.error }, `cleanup hook "${entry.name}" failed`);
      }
    }
    return failures;
  }
}
