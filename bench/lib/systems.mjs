// The systems the bench compares, behind one small interface:
//   start(), reload() -> { ok, reported, durationMs }, workerPids(), primaryPid(), stop()
// Each runs in its own processes, started and stopped by pid.
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childrenOf, isAlive, killTree, onCleanup, run, startProcess, stopProcess, track, waitFor, waitForHttp, zdt, zdtStart } from '@zero-downtime/testkit';

const here = path.dirname(fileURLToPath(import.meta.url));
export const benchDir = path.resolve(here, '..');
export const appsDir = path.join(benchDir, 'apps');

/** A scratch directory per system: the release marker and the ready-events file live there. */
export function makeScratch(name) {
  const dir = mkdtempSync(path.join(tmpdir(), `zdt-bench-${name}-`));
  const releaseFile = path.join(dir, 'release');
  const eventsFile = path.join(dir, 'events.jsonl');
  writeFileSync(releaseFile, 'good');
  writeFileSync(eventsFile, '');
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    releaseFile,
    eventsFile,
    setRelease: (release) => writeFileSync(releaseFile, release),
    /** Ready events ({ pid, at }) appended by workers as they start listening. */
    readyEvents: () =>
      readFileSync(eventsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}

function waitMessage(primary, predicate, timeoutMs) {
  const { child } = primary;
  const output = () => primary.output.join('\n');
  return new Promise((resolve, reject) => {
    const finish = (error, message) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message);
    };
    const timer = setTimeout(() => finish(new Error(`no matching message within ${timeoutMs} ms\n${output()}`)), timeoutMs);
    const onMessage = (message) => {
      if (predicate(message)) finish(undefined, message);
    };
    const onExit = (code, signal) => finish(new Error(`the primary exited (${signal ?? `code ${code}`})\n${output()}`));
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Triggers a reload in a primary we forked and waits for its `reload:done` report. */
async function reloadOverIpc(primary, trigger, timeoutMs) {
  const began = Date.now();
  const done = waitMessage(primary, (message) => message?.type === 'reload:done', timeoutMs);
  trigger();
  try {
    return { message: await done, durationMs: Date.now() - began };
  } catch (error) {
    return { message: { ok: false, error: error.message }, durationMs: Date.now() - began };
  }
}

/**
 * (b) the bare node:cluster primary of bench/systems/bare-cluster.mjs; reload on SIGUSR2. `env` adds to its
 * environment: NODE_CLUSTER_SCHED_POLICY=none makes its workers accept from the shared socket themselves.
 */
export function bareCluster({ name = 'bare cluster', app, workers, port, killTimeoutMs = 5_000, env = {} }) {
  const scratch = makeScratch('bare');
  let primary;
  return {
    scratch,
    async start() {
      primary = startProcess(path.join(benchDir, 'systems', 'bare-cluster.mjs'), [app, String(workers)], {
        ipc: true,
        what: name,
        env: {
          ...process.env,
          ...env,
          PORT: String(port),
          BARE_KILL_TIMEOUT_MS: String(killTimeoutMs),
          BENCH_RELEASE_FILE: scratch.releaseFile,
          BENCH_EVENTS_FILE: scratch.eventsFile,
        },
      });
      await waitFor(() => childrenOf(primary.pid).length >= workers && scratch.readyEvents().length >= workers, `${name} workers`, { timeoutMs: 20_000 });
      await waitForHttp(port);
    },
    primaryPid: () => primary.pid,
    workerPids: () => childrenOf(primary.pid),
    async reload({ timeoutMs = 60_000 } = {}) {
      const { message, durationMs } = await reloadOverIpc(primary, () => process.kill(primary.pid, 'SIGUSR2'), timeoutMs);
      return {
        ok: message.ok,
        durationMs,
        reported: 'kill -USR2: exit 0, no feedback',
      };
    },
    async stop() {
      if (primary) await stopProcess(primary.pid, { signal: 'SIGTERM', graceMs: killTimeoutMs + 2_000 });
    },
  };
}

/** (d) the app alone: one process, no primary, nothing between the client and the app. */
export function appAlone({ name = 'the app alone', app, port, env = {} }) {
  const scratch = makeScratch('alone');
  let server;
  return {
    scratch,
    async start() {
      server = startProcess(process.execPath, [app], {
        what: name,
        env: { ...process.env, ...env, PORT: String(port), BENCH_RELEASE_FILE: scratch.releaseFile, BENCH_EVENTS_FILE: scratch.eventsFile },
      });
      await waitForHttp(port);
    },
    primaryPid: () => null,
    workerPids: () => [server.pid],
    async stop() {
      if (server) await stopProcess(server.pid, { signal: 'SIGTERM', graceMs: 3_000 });
    },
  };
}

const pm2Bin = path.join(benchDir, 'node_modules', 'pm2', 'bin', 'pm2');

/** The ecosystem file of the bench's PM2 app, in `scratch`: cluster mode, PM2's settings for graceful start and stop. */
function writeEcosystem({ scratch, app, appName, workers, port, killTimeoutMs, listenTimeoutMs }) {
  const ecosystem = path.join(scratch.dir, 'ecosystem.config.json');
  writeFileSync(
    ecosystem,
    JSON.stringify({
      apps: [
        {
          name: appName,
          script: app,
          exec_mode: 'cluster',
          instances: workers,
          wait_ready: true,
          listen_timeout: listenTimeoutMs,
          kill_timeout: killTimeoutMs,
          autorestart: true,
          out_file: path.join(scratch.dir, 'out.log'),
          error_file: path.join(scratch.dir, 'error.log'),
          env: {
            PORT: String(port),
            BENCH_PM2_GRACEFUL: '1',
            BENCH_RELEASE_FILE: scratch.releaseFile,
            BENCH_EVENTS_FILE: scratch.eventsFile,
          },
        },
      ],
    }),
  );
  return ecosystem;
}

/**
 * (c) PM2 in cluster mode with the zero-downtime settings its docs recommend, run
 * under a private PM2_HOME so a user's own PM2 is never touched; the daemon is
 * `pm2 kill`ed (and SIGKILLed by pid if needed) at the end.
 */
export function pm2Cluster({ name = 'PM2 reload', app, workers, port, killTimeoutMs = 5_000, listenTimeoutMs = 3_000 }) {
  const scratch = makeScratch('pm2');
  const home = path.join(scratch.dir, 'pm2-home');
  mkdirSync(home);
  const pm2Env = { ...process.env, PM2_HOME: home, PM2_DISCRETE_MODE: 'true' };
  const appName = 'zdt-bench';
  const ecosystem = writeEcosystem({ scratch, app, appName, workers, port, killTimeoutMs, listenTimeoutMs });
  const pm2 = (...args) => run(process.execPath, [pm2Bin, ...args], { env: pm2Env, cwd: scratch.dir });
  const daemonPid = () => {
    try {
      return Number(readFileSync(path.join(home, 'pm2.pid'), 'utf8'));
    } catch {
      return 0;
    }
  };
  let killed = false;
  async function killDaemon() {
    if (killed) return;
    killed = true;
    const pid = daemonPid();
    await pm2('kill');
    if (pid && isAlive(pid)) killTree(pid, 'SIGKILL');
  }
  onCleanup(killDaemon);
  return {
    scratch,
    async start() {
      const result = await pm2('start', ecosystem);
      if (result.code !== 0) throw new Error(`pm2 start failed: ${result.stderr || result.stdout}`);
      track(daemonPid(), 'PM2 daemon (private PM2_HOME)');
      await waitFor(() => scratch.readyEvents().length >= workers, `${name} workers`, { timeoutMs: 20_000 });
      await waitForHttp(port);
    },
    primaryPid: daemonPid,
    workerPids: () => childrenOf(daemonPid()),
    async reload() {
      const result = await pm2('reload', appName);
      const text = `${result.stdout}\n${result.stderr}`;
      const line =
        text
          .split('\n')
          .map((entry) => entry.replace(/\u001b\[[0-9;]*m/g, '').trim())
          .filter((entry) => /reload|error|success|\u2713/i.test(entry))
          .pop() ?? '';
      return {
        ok: result.code === 0,
        durationMs: result.durationMs,
        reported: `pm2 reload: exit ${result.code}${line ? `, "${line.slice(0, 80)}"` : ''}`,
      };
    },
    async stop() {
      await pm2('delete', appName);
      await killDaemon();
    },
  };
}

/**
 * (a) this project's supervisor, run the way its README says: `zdt start` in the
 * foreground (its own process, so its RSS is the primary's alone), `zdt reload`
 * over the control socket, SIGTERM to stop.
 */
export function zdtSupervisor({ name, app, workers, port, env = {}, drainTimeoutMs = 5_000, batchSize = 1 }) {
  const scratch = makeScratch('zdt');
  const control = path.join(scratch.dir, 'zdt.sock');
  let running;
  return {
    scratch,
    async start() {
      // JSON log lines carry the supervisor's own time of each event: the rollout breakdown reads them.
      const args = [app, '--workers', String(workers), '--drain-timeout', `${drainTimeoutMs}ms`, '--control', control, '--batch-size', String(batchSize), '--log-format', 'json'];
      running = zdtStart(args, {
        what: name,
        cwd: scratch.dir,
        env: { ...env, PORT: String(port), BENCH_RELEASE_FILE: scratch.releaseFile, BENCH_EVENTS_FILE: scratch.eventsFile },
      });
      const started = waitFor(() => childrenOf(running.pid).length >= workers && scratch.readyEvents().length >= workers, `${name} workers`, {
        timeoutMs: 60_000,
      });
      const outcome = await Promise.race([started.then(() => 'started'), running.exited]);
      if (outcome !== 'started') throw new Error(`zdt start exited with ${outcome.code ?? outcome.signal}\n${running.output.join('\n')}`);
      await waitForHttp(port);
    },
    primaryPid: () => running.pid,
    workerPids: () => childrenOf(running.pid),
    /** Every line the supervisor printed so far (JSON log records). */
    logLines: () => running.output,
    async reload() {
      const result = await zdt(['reload', '--control', control], { cwd: scratch.dir });
      const lines = `${result.stdout}\n${result.stderr}`.split('\n').map((line) => line.trim()).filter(Boolean);
      const last = lines.pop() ?? '';
      // The rollout's own duration as the supervisor measured it, without the CLI's start-up.
      const measured = /replaced in (\d+)ms/.exec(last);
      return {
        ok: result.code === 0,
        durationMs: measured ? Number(measured[1]) : result.durationMs,
        reported: `zdt reload: exit ${result.code}, "${last}"`,
      };
    },
    async stop() {
      if (running) await stopProcess(running.pid, { signal: 'SIGTERM', graceMs: drainTimeoutMs + 5_000 });
    },
  };
}
