// `zdt` as a user runs it: `zdt start` in the foreground with its output collected, and the client commands
// (`reload`, `status`, `stop`) run asynchronously, so load clients in the same process keep running meanwhile.
import { createRequire } from 'node:module';
import path from 'node:path';
import { run, startProcess, track } from './processes.mjs';

/** The committed launcher `npx zdt` runs (it loads the built CLI). */
const ZDT = path.join(path.dirname(createRequire(import.meta.url).resolve('@zero-downtime/core/package.json')), 'bin', 'zdt.cjs');

/**
 * `zdt start ...args`; every worker pid it prints is tracked for cleanup. `env` adds to this process's environment
 * unless `replaceEnv` is set.
 */
export function zdtStart(args, { cwd, env = {}, replaceEnv = false, what = 'zdt start' } = {}) {
  const workerPids = [];
  let port = 0;
  const started = startProcess(process.execPath, [ZDT, 'start', ...args], {
    cwd,
    env: replaceEnv ? env : { ...process.env, ...env },
    what,
    onLine(line) {
      const forked = /forked \(pid (\d+)/.exec(line);
      if (forked) {
        workerPids.push(Number(forked[1]));
        track(Number(forked[1]), 'a worker of zdt start');
      }
      const listening = /listening on [\d.]+:(\d+)/.exec(line);
      if (listening && !port) port = Number(listening[1]);
    },
  });
  return {
    ...started,
    /** Every worker pid it has forked so far, in order. */
    workerPids: () => [...workerPids],
    /** The port its first worker listened on, 0 until then. */
    port: () => port,
  };
}

/** A client command (`reload`, `status`, `stop`...), bounded in time; `uid` runs it as another user. */
export function zdt(args, { cwd, env = {}, replaceEnv = false, uid, timeoutMs = 120_000 } = {}) {
  return run(process.execPath, [ZDT, ...args], {
    cwd,
    env: replaceEnv ? env : { ...process.env, ...env },
    timeoutMs,
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
}
