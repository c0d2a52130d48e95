/**
 * Launching one worker process: its environment (what the worker side reads, protocol.ts WORKER_ENV), the preload,
 * the sockets the supervisor owns at fd 4 on, and the fork itself (node:cluster, or the injected fork seam).
 */
import cluster, { type Worker } from 'node:cluster';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ResolvedOptions } from '../../options.js';
import { WORKER_ENV } from '../../protocol.js';
import type { Listeners } from '../sockets/listeners.js';
import type { Release } from '../releases/release.js';

/**
 * The preload every worker runs before the app (it reports uncaught exceptions, see preload.ts). Next to this file
 * in the published build; from the sources (the tests), in the package's dist/.
 */
export function findPreload(): string | undefined {
  for (const relative of ['./preload.cjs', '../../../dist/preload.cjs']) {
    const candidate = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface LaunchContext {
  options: ResolvedOptions;
  /** The sockets the supervisor owns (none unless `listen` is set). */
  sockets: Listeners;
  /** The preload's path, when it was found. */
  preload: string | undefined;
}

/** Forks the worker of slot `id` for `release`. */
export function launchWorker({ options, sockets, preload: found }: LaunchContext, id: number, release: Release): Worker {
  const preload = options.autoDrain ? found : undefined;
  const env: Record<string, string> = {
    ...release.settings.env,
    [WORKER_ENV.supervised]: '1',
    [WORKER_ENV.workerId]: String(id),
    [WORKER_ENV.generation]: String(release.generation),
    [WORKER_ENV.readiness]: options.readiness,
    [WORKER_ENV.drainTimeoutMs]: String(options.drainTimeoutMs),
    [WORKER_ENV.cleanupTimeoutMs]: String(options.cleanupTimeoutMs),
    [WORKER_ENV.heartbeatIntervalMs]: String(options.heartbeatIntervalMs),
    [WORKER_ENV.supervisorPid]: String(process.pid),
    [WORKER_ENV.autoDrain]: preload ? '1' : '0',
    [WORKER_ENV.appMetrics]: options.metrics ? '1' : '0',
  };
  // Owned sockets: each worker gets its own copy at fd 4 on (fd 3 is cluster's IPC channel) and accepts on it; the
  // preload maps the app's listen() onto it, so it is loaded even without autoDrain.
  const owned = sockets.size > 0;
  // Sticky routing: the preload sends the app's listen() to the supervisor (worker/sticky.ts).
  if (options.sticky) env[WORKER_ENV.sticky] = options.sticky;
  const loaded = preload ?? (owned || options.sticky ? found : undefined);
  let stdio: Array<string | number> | undefined;
  if (owned) {
    sockets.verify();
    env[WORKER_ENV.listenFds] = sockets.workerMap(4);
    const output = options.silent ? 'pipe' : 'inherit';
    stdio = [output, output, output, 'ipc', ...sockets.descriptors()];
  }
  const settings = {
    exec: release.entryPath,
    args: release.settings.args,
    execArgv: loaded ? ['--require', loaded, ...release.settings.execArgv] : release.settings.execArgv,
    cwd: release.cwd,
    silent: options.silent,
    ...(stdio ? { stdio } : {}),
  };
  let worker;
  if (options.fork) {
    worker = options.fork({ ...settings, env });
  } else {
    // Workers accept their own connections (docs/explanation/connections.md): read by node:cluster at its first
    // setupPrimary() and frozen there, so it is set before every fork and counts once.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    // Set on every fork: each generation forks its own resolved release.
    cluster.setupPrimary(settings);
    worker = cluster.fork(env);
  }
  if (options.silent) {
    worker.process.stdout?.resume();
    worker.process.stderr?.resume();
  }
  return worker;
}
