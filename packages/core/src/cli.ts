#!/usr/bin/env node
/**
 * `zdt`: run an app under the supervisor in the foreground, and talk to a
 * running one over its control socket. Exit codes: 0 success, 1 the operation
 * failed (start, reload, scale, no supervisor), 2 bad usage or configuration,
 * 3 done but requests were cut at a drain deadline.
 */
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { accessSync, constants, lstatSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  ConfigError,
  ControlPathError,
  ControlPermissionError,
  ControlUntrustedError,
  EntryNotFoundError,
  InvalidOptionError,
  InvalidStateError,
  ListenError,
  PidFileError,
  RequestsCutError,
  StartFailedError,
  UpgradeFailedError,
  UpgradeInProgressError,
  UsageError,
  ZdtError,
} from './errors.js';
import { createConsoleLogger, createJsonLogger, logicalWorkingDirectory, parseDuration, type ReloadUpdate } from './options.js';
import {
  Supervisor,
  type CutReport,
  type RolloutResult,
  type ScaleResult,
  type StopResult,
  type SupervisorStatus,
} from './primary/supervisor.js';
import {
  ControlServer,
  defaultControlPath,
  sendControlCommand,
  temporaryControlPath,
  type ControlRequest,
  type UpgradeRequest,
} from './primary/control.js';
import { checkPidFile, readPidFile, removePidFile, writePidFile } from './primary/pid-file.js';
import { Predecessor, Successor, takeActivatedSockets, takeInheritedSockets, type SuccessorWorker } from './primary/upgrade.js';
import type { ListenerInfo } from './primary/listeners.js';
import { findOrphanedWorkers, stopOrphanedWorkers } from './primary/orphans.js';
import { WORKER_ENV } from './protocol.js';
import { describeServing } from './primary/rollout.js';
import {
  Configuration,
  findConfigurationFile,
  isConfigurationFileName,
  readFlag,
  restartOnlyChanges,
  type Settings,
} from './config.js';
import { SETTINGS } from './settings/table.js';

const HELP = {
  main: `Usage: zdt <command> [options]

Commands:
  start [entry|config]  run the app under the supervisor, in the foreground
  reload                re-read the configuration, then replace every worker start-first
  scale N               add or remove workers start-first, leaving the others alone
  upgrade               hand the listening sockets to a new supervisor (a new zdt or Node.js), then exit
  status                show the supervisor, the app and its workers
  stop                  drain every worker and stop the supervisor

Run 'zdt <command> --help' for a command's options.
The control socket defaults to $ZDT_CONTROL; else, for root, /run/zdt/zdt.sock; else $XDG_RUNTIME_DIR/zdt.sock;
else <tmpdir>/zdt-<uid>/zdt.sock. zdt only uses a socket that is yours, in a directory only you can write to
(exit 2 with ERR_ZDT_CONTROL_UNTRUSTED otherwise).
`,
  start: `Usage: zdt start [<entry> | <config file>] [options] [-- app args]

Runs the app as N cluster workers and keeps them serving through crashes and reloads.
Prints each step. SIGUSR2 or SIGHUP reloads; SIGTERM or SIGINT stops (a second one forces).

The settings come from the flags below and from a configuration file: --config FILE, a
*.config.{js,mjs,cjs} or .json file given instead of the entry (a PM2 ecosystem file too),
else zdt.config.{js,mjs,cjs,json} or the "zdt" field of package.json in the working
directory. A flag wins over the file. Without <entry>, the file's entry (or script) runs.

Options:
  --config FILE            the configuration file (zdt format or a PM2 ecosystem file)
  --only NAME              the app to run from a PM2 ecosystem file with several
  --env KEY=VALUE          set a variable for the workers (repeatable)
  --env NAME               use the app's env_NAME of a PM2 ecosystem file, as 'pm2 --env NAME'
  --env-file FILE          KEY=value lines for the workers (re-read on every reload)
  --node-args=ARGS         node arguments for the workers ("--max-old-space-size=512 ...")
  --cwd DIR                the workers' working directory (default: the configuration file's
                           directory, else the current one); <entry> is resolved from here
  --name NAME              the app's name in 'zdt status' (default: package.json name)
  --workers N|max          number of workers (default: available parallelism)
  --ready listening|message
                           ready at the first 'listening', or when the app calls ready()
                           from @zero-downtime/core/worker (default: listening)
  --ready-timeout DUR      a new worker not ready by then is killed (default: 30s)
  --drain-timeout DUR      how long a request in flight may run to completion when its worker
                           drains (rollout, replacement, stop); an app's own shorter
                           drainTimeoutMs wins (default: 30s)
  --cleanup-timeout DUR    how long the app's cleanup hooks may take after the drain; a
                           stopping worker is killed at drain + cleanup + 1s (default: 5s)
  --heartbeat-timeout DUR  a worker that loads the worker module and answers no ping for
                           this long is hung: replaced, then killed (default: 5s; pings every 1s)
  --max-memory SIZE        replace a worker whose RSS exceeds SIZE (512M, 1.5G; default: off)
  --batch-size N           workers a rollout replaces at once (default: 1)
  --control PATH           control socket path (default: see 'zdt --help')
  --log-format text|json   the supervisor's log: text lines, or one JSON object per line
                           (time, level, msg and fields); worker output is passed through as is
  --metrics HOST:PORT      serve Prometheus metrics at http://HOST:PORT/metrics (default: off)
  --listen ADDRESS         a listening socket the supervisor owns: PORT, HOST:PORT (HOST an IP
                           address) or unix:PATH (repeatable). The app's listen() on that port or
                           path is made on it; the workers accept on it themselves. Needed by
                           'zdt upgrade'. Sockets from systemd (LISTEN_FDS) are taken as well.
  --pid-file PATH          write the supervisor's pid there (atomically), and the new one's after
                           'zdt upgrade'; removed at the stop
  --no-auto-drain          load nothing into the workers (--auto-drain: the default)
  -h, --help               show this help

DUR: 500ms, 30s, 2m, or a number of milliseconds (at most 2147483647ms).
Exit status: 0 after a clean stop, 1 when the start failed (the cause is printed) or a
stop was forced, 2 for bad usage or a bad configuration (ERR_ZDT_CONFIG names the key and
the file), 3 when the stop cut requests at the drain deadline.
`,
  reload: `Usage: zdt reload [--control PATH]

Re-reads the configuration file and env file, then forks a replacement for every worker from
the code now on disk with the new env, args, node arguments and worker count, waits until it
is ready, and drains the old one. Prints progress. If a new worker fails before it is ready,
the rollout stops and every worker it already replaced is rolled back, start-first, to the
last generation that was fully ready; the last line says what serves afterwards.
A reload during a rollout queues one more rollout; further requests join that one.

Exit status: 0 every worker runs the new generation and every old one drained cleanly;
1 the rollout failed (rolled back, or not yet: the message says which generation each
worker runs) or no supervisor answered; 2 bad usage, an untrusted control socket, or a
configuration that no longer loads (ERR_ZDT_CONFIG: nothing was changed, the workers keep
serving); 3 every worker runs the new generation but old workers were cut at the drain
deadline (ERR_ZDT_REQUESTS_CUT names them).
`,
  scale: `Usage: zdt scale N|max [--control PATH]

Sets the number of workers. New workers run the generation serving now and are ready before
the command returns; removed workers (the highest ids) are drained. The other workers are
not touched. A later 'zdt reload' keeps this count unless the configuration file's workers
value changed.

Exit status: 0 done; 1 a new worker failed before it was ready (ERR_ZDT_SCALE_FAILED: the
workers added for it were removed again) or no supervisor answered; 2 bad usage (N is not a
whole number from 1 to 1024 or "max"); 3 done, but removed workers were cut at the drain
deadline (ERR_ZDT_REQUESTS_CUT names them).
`,
  status: `Usage: zdt status [--control PATH] [--json]

Shows the app's name and where its configuration came from, the supervisor state and uptime,
which generation each worker serves (and "mixed generations" while a rollback is retried),
the last rollout with its rollback and any cut requests, and each worker: id, pid,
generation, state, uptime, restarts, CPU time used since its fork, RSS, and any crash loop.
`,
  upgrade: `Usage: zdt upgrade [--node PATH] [--timeout DUR] [--control PATH]

Starts a new supervisor ('zdt start' with the same arguments, working directory and environment,
re-reading the configuration; with the zdt now installed at the same path, on the Node.js at
--node PATH or else the same one) as a detached process that inherits the listening sockets.
Its workers accept on the same sockets as the old ones: both serve until every new worker is
ready. Then the new supervisor takes over the control socket and the PID file, the old workers
drain, and the old supervisor exits. If the new supervisor fails before it is ready (exits,
throws at boot, or is not ready within --timeout), it is stopped and the old one keeps serving.
Needs listening sockets the supervisor owns (--listen, or systemd socket activation).
One upgrade at a time; a reload or scale during one is refused.

Options:
  --node PATH              the Node.js binary of the new supervisor (default: the same)
  --timeout DUR            how long the new supervisor may take to be ready (default: the
                           ready timeout + 30s)

Exit status: 0 the new supervisor serves and every old worker drained cleanly; 1 the upgrade
failed (ERR_ZDT_UPGRADE_FAILED: the old supervisor keeps serving), another one is under way
(ERR_ZDT_UPGRADE_IN_PROGRESS), or no supervisor answered; 2 bad usage; 3 the new supervisor
serves but old workers were cut at the drain deadline (ERR_ZDT_REQUESTS_CUT).
`,
  stop: `Usage: zdt stop [--control PATH]

Drains every worker in parallel (SIGKILL at drain + cleanup + 1s) and stops the supervisor.
Exit status: 0 stopped cleanly, 1 no supervisor answered, 2 bad usage, 3 stopped but
requests were cut at the drain deadline (ERR_ZDT_REQUESTS_CUT names the workers).
`,
} as const;

type Command = keyof typeof HELP;

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function fail(error: unknown, command: Command | undefined): number {
  if (error instanceof UsageError || error instanceof InvalidOptionError || error instanceof EntryNotFoundError) {
    const hint = command ? `zdt ${command} --help` : 'zdt --help';
    process.stderr.write(`zdt: ${error.code}: ${error.message}\nRun '${hint}' for usage.\n`);
    return 2;
  }
  // A configuration or control path that cannot or must not be used is bad input: nothing was attempted.
  if (
    error instanceof ConfigError ||
    error instanceof ListenError ||
    error instanceof PidFileError ||
    error instanceof ControlUntrustedError ||
    error instanceof ControlPathError ||
    error instanceof ControlPermissionError
  ) {
    process.stderr.write(`zdt: ${error.code}: ${error.message}\n`);
    return 2;
  }
  if (error instanceof ZdtError) {
    process.stderr.write(`zdt: ${error.code}: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`zdt: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}

type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/** node:util parseArgs with its errors turned into UsageError (exit 2). */
function parseFlags<const Options extends FlagSpec>(args: string[], options: Options, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (error) {
    // Keep parseArgs' first sentence; its advice about '--' does not apply to most commands.
    throw new UsageError((error as Error).message.split(/\.\s/)[0] ?? 'bad arguments');
  }
}

/** `zdt reload`, `zdt scale` and `zdt stop` exit with this when the work was done but requests were cut at a drain deadline. */
const EXIT_CUT = 3;

function describeCuts(what: 'reload' | 'stop' | 'scale' | 'upgrade', cuts: readonly CutReport[]): string {
  const parts = cuts.map((cut) => {
    const count = cut.cut === undefined ? 'its requests in flight' : `${cut.cut} connection(s)`;
    return `worker ${cut.workerId} (pid ${cut.pid}, generation ${cut.generation}) ${cut.killed ? 'was killed at its deadline, cutting' : 'cut'} ${count}`;
  });
  const done = {
    reload: 'the rollout replaced every worker, but',
    stop: 'every worker stopped, but',
    scale: 'the workers were removed, but',
    upgrade: 'the new supervisor serves, but',
  }[what];
  return `${done} ${parts.join('; ')} at the drain deadline; raise --drain-timeout to give requests more time`;
}

/** `zdt start` flags that set one setting each, by the settings table; --env, --listen and --auto-drain read their own way. */
const SETTING_FLAGS = SETTINGS.filter((entry) => entry.flag !== undefined && !entry.flag.repeatable && entry.flag.value !== '');

const START_FLAGS = {
  ...(Object.fromEntries(SETTING_FLAGS.map((entry) => [entry.flag!.name, { type: 'string' }])) as Record<string, { type: 'string' }>),
  config: { type: 'string' },
  only: { type: 'string' },
  env: { type: 'string', multiple: true },
  listen: { type: 'string', multiple: true },
  'auto-drain': { type: 'boolean' },
  'no-auto-drain': { type: 'boolean' },
} satisfies FlagSpec;

/** What the command line says, checked like the configuration file's keys; `--env NAME` comes back apart. */
function commandLineSettings(values: Record<string, string | boolean | string[] | undefined>, workingDirectory: string) {
  const settings: Settings = {};
  for (const { flag, key } of SETTING_FLAGS) {
    const value = values[flag!.name];
    if (typeof value === 'string') Object.assign(settings, readFlag(`--${flag!.name}`, key, value, workingDirectory));
  }
  for (const address of (values.listen as string[] | undefined) ?? []) {
    settings.listen = [...(settings.listen ?? []), ...readFlag('--listen', 'listen', address, workingDirectory).listen!];
  }
  if (values['auto-drain'] && values['no-auto-drain']) throw new UsageError('--auto-drain and --no-auto-drain: give one');
  if (values['auto-drain']) settings.autoDrain = true;
  if (values['no-auto-drain']) settings.autoDrain = false;
  let envName: string | undefined;
  for (const item of (values.env as string[] | undefined) ?? []) {
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(item);
    if (assignment) {
      settings.env = { ...settings.env, [assignment[1]!]: assignment[2]! };
    } else if (/^[\w.-]+$/.test(item) && envName === undefined) {
      envName = item;
    } else {
      throw new UsageError(`--env: expected KEY=VALUE, or once the NAME of a PM2 ecosystem app's env_NAME, received ${JSON.stringify(item)}`);
    }
  }
  return { settings, envName };
}

/** `zdt status --json`: the supervisor's status plus what only `zdt start` knows. */
interface CliStatus extends SupervisorStatus {
  /** How long this `zdt start` has been running. */
  uptimeMs: number;
  /** The Node.js version the supervisor (and so every worker) runs. */
  node: string;
  app: {
    name: string;
    /** The configuration file read, null when everything came from the command line. */
    config: string | null;
  };
  pidFile: string | null;
  /** While `zdt upgrade` runs: the new supervisor, and whether it has taken over the control socket. */
  upgrade: { successorPid: number | undefined; committed: boolean } | null;
}

/** What `zdt upgrade` answers. */
interface UpgradeResult {
  from: { pid: number; node: string };
  to: { pid: number; node: string };
  workers: SuccessorWorker[];
  listeners: ListenerInfo[];
  cuts: CutReport[];
  durationMs: number;
}

/** `zdt start`; when `zdt upgrade` started it, a failure before it is ready is told to the old supervisor too. */
async function start(argv: string[]): Promise<number> {
  const predecessor = Predecessor.find();
  try {
    return await runStart(argv, predecessor);
  } catch (error) {
    predecessor?.failed(error);
    throw error;
  }
}

async function runStart(argv: string[], predecessor: Predecessor | undefined): Promise<number> {
  const separator = argv.indexOf('--');
  const own = separator >= 0 ? argv.slice(0, separator) : argv;
  const appArgs = separator >= 0 ? argv.slice(separator + 1) : undefined;
  const { values, positionals } = parseFlags(own, START_FLAGS, true);
  if (values.help) {
    print(HELP.start);
    return 0;
  }
  // Sockets from systemd or from the supervisor that started this one; their variables leave the environment here.
  const inherited = takeInheritedSockets();
  const activated = takeActivatedSockets();
  // What a successor started by 'zdt upgrade' is given: this environment, as it was at start.
  const startEnvironment = { ...process.env };
  if (positionals.length > 1) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}; put app arguments after --`);
  }
  const workingDirectory = logicalWorkingDirectory();
  const positional = positionals[0];
  const positionalIsConfig = positional !== undefined && isConfigurationFileName(positional);
  if (positionalIsConfig && values.config !== undefined) {
    throw new UsageError(`${JSON.stringify(positional)} and --config ${JSON.stringify(values.config)}: name one configuration file`);
  }
  const named = values.config ?? (positionalIsConfig ? positional : undefined);
  // Kept logical (not realpath'd): a file under a `current` symlink is read from the release it points to at each reload.
  const configFile = named === undefined ? findConfigurationFile(workingDirectory) : path.resolve(workingDirectory, named);
  const { settings: commandLine, envName } = commandLineSettings(values, workingDirectory);
  if (positional !== undefined && !positionalIsConfig) commandLine.entry = positional;
  if (appArgs !== undefined) commandLine.args = appArgs;
  const configuration = new Configuration(configFile, commandLine, { only: values.only, envName }, workingDirectory);
  const started = await configuration.read();
  if ((values.only !== undefined || envName !== undefined) && started.configFormat !== 'pm2') {
    const flag = values.only !== undefined ? `--only ${values.only}` : `--env ${envName}`;
    throw new UsageError(`${flag} picks an app or its env_NAME in a PM2 ecosystem file; ${started.configFile ?? 'no configuration file was read'}${started.configFile ? ' is not one' : ''}`);
  }
  let current = started;
  const controlPath = started.controlPath ?? defaultControlPath();
  const pidFile = started.pidFile;
  if (pidFile !== undefined) checkPidFile(pidFile);

  // A log reader that went away (EPIPE) must not take the supervisor, and with it every worker, down.
  const ignoreOutputError = () => {};
  process.stdout.on('error', ignoreOutputError);
  process.stderr.on('error', ignoreOutputError);
  const logger = started.logFormat === 'json' ? createJsonLogger(process.stdout) : createConsoleLogger(process.stdout);
  const warnIgnored = (warnings: string[], file: string | undefined) => {
    for (const warning of warnings) logger.warn({ config: file }, `${file}: ${warning}`);
  };
  warnIgnored(started.warnings, started.configFile);
  // Markers a later `zdt start` on the same control path uses to find workers this process leaves behind if SIGKILLed.
  const orphanMarkers = { [WORKER_ENV.supervisorPid]: String(process.pid), [WORKER_ENV.supervisorControl]: path.resolve(controlPath) };
  const supervisor = new Supervisor({
    // Relative to cwd where it can be, so an error names the file the way it was given.
    entry: path.relative(started.cwd, started.entry) || started.entry,
    cwd: started.cwd,
    args: started.args,
    env: { ...started.env, ...orphanMarkers },
    execArgv: started.execArgv,
    workers: started.workers,
    readiness: started.readiness,
    readyTimeoutMs: started.readyTimeoutMs,
    drainTimeoutMs: started.drainTimeoutMs,
    cleanupTimeoutMs: started.cleanupTimeoutMs,
    heartbeatTimeoutMs: started.heartbeatTimeoutMs,
    maxMemoryMb: started.maxMemoryMb,
    rolloutBatchSize: started.rolloutBatchSize,
    autoDrain: started.autoDrain,
    metrics: started.metrics,
    metricsFd: inherited.metricsFd,
    listen: [...activated, ...inherited.listeners, ...(started.listen ?? [])],
    logger,
  });
  logger.info({ config: started.configFile ?? null, app: started.name }, `app ${started.name}, configuration: ${started.configFile ?? 'command line'}`);

  // The worker count in the file applies when it changes there, so a reload does not undo a `zdt scale`.
  let appliedFileWorkers = started.fromFile.workers;
  /** Every reload, by signal or control socket: re-read the configuration (a broken one rejects, nothing changes). */
  const reloadWithConfiguration = async (): Promise<RolloutResult> => {
    if (upgrade) throw new UpgradeInProgressError('reload', upgrade.successor.pid);
    let next: typeof started;
    try {
      next = await configuration.read();
    } catch (error) {
      const code = error instanceof ZdtError ? `${error.code}: ` : '';
      logger.error({ code: (error as ZdtError).code }, `reload refused: ${code}${(error as Error).message}; the workers keep running unchanged`);
      throw error;
    }
    warnIgnored(next.warnings, next.configFile);
    const changed = restartOnlyChanges(started, next);
    if (changed.length > 0) {
      logger.warn(
        { config: next.configFile, keys: changed },
        `${changed.join(', ')} changed since start: applied at the next 'zdt start' or 'zdt upgrade' (a reload applies env, envFile, args, nodeArgs and workers)`,
      );
    }
    const update: ReloadUpdate = { env: { ...next.env, ...orphanMarkers }, args: next.args ?? [], execArgv: next.execArgv ?? [] };
    const fileWorkers = next.fromFile.workers;
    if (commandLine.workers === undefined && fileWorkers !== undefined && fileWorkers !== appliedFileWorkers) update.workers = fileWorkers;
    const result = await supervisor.reload(update);
    appliedFileWorkers = fileWorkers;
    current = next;
    return result;
  };
  const statusWithApp = (): CliStatus => {
    const status = supervisor.status();
    return {
      ...status,
      uptimeMs: Math.round(process.uptime() * 1000),
      node: process.version,
      app: { name: current.name, config: current.configFile ?? null },
      pidFile: pidFile ?? null,
      upgrade: upgrade ? { successorPid: upgrade.successor.pid, committed: upgrade.committed } : null,
    };
  };

  let stopping: Promise<StopResult> | undefined;
  let forced = false;
  let announceStop!: () => void;
  const stopRequested = new Promise<void>((resolve) => {
    announceStop = resolve;
  });
  /** `zdt upgrade` under way: the new supervisor, and whether it has taken over (control socket, PID file). */
  let upgrade: { successor: Successor; committed: boolean } | undefined;
  let successorStopped: Promise<void> | undefined;
  let upgradeAnswered: Promise<unknown> | undefined;
  const successorGraceMs = () => supervisor.options.killAfterMs + 2_000;
  /** A stop during an upgrade stops the new supervisor too (under systemd, the old one is still the main process). */
  const stopSuccessor = () => {
    if (!upgrade || successorStopped) return;
    logger.info({ pid: upgrade.successor.pid }, `stopping the new supervisor pid ${upgrade.successor.pid} too`);
    successorStopped = upgrade.successor.stop(successorGraceMs(), temporaryControlPath(control.path, upgrade.successor.pid));
  };
  let stopAfterHandover = false;
  const stop = (why: string, handedOver = false): Promise<StopResult> => {
    // Handed over and draining: a stop now is for both supervisors, not a forced one.
    if (stopping && upgrade?.committed && !handedOver && !stopAfterHandover) {
      stopAfterHandover = true;
      logger.info(`${why}: the old workers are draining already`);
      stopSuccessor();
      return stopping;
    }
    if (stopping) {
      forced = true;
      logger.warn(`${why} again: forcing stop (SIGKILL every worker)`);
      if (upgrade?.successor.pid !== undefined && upgrade.successor.running) {
        try {
          process.kill(-upgrade.successor.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      void supervisor.stop({ force: true });
      return stopping;
    }
    logger.info(`${why}: stopping`);
    if (!handedOver) stopSuccessor();
    stopping = supervisor.stop({ handedOver });
    announceStop();
    return stopping;
  };

  const upgradeTo = async (request: UpgradeRequest, progress: (message: string) => void): Promise<UpgradeResult> => {
    if (upgrade) throw new UpgradeInProgressError('upgrade', upgrade.successor.pid);
    if (stopping || supervisor.state !== 'running') throw new InvalidStateError('upgrade', stopping ? 'stopping' : supervisor.state);
    const listeners = supervisor.listenerDescriptors();
    if (listeners.length === 0) {
      throw new UpgradeFailedError(
        "this supervisor owns no listening socket (start it with --listen ADDRESS, or with systemd socket activation): its workers' ports belong to its node:cluster and cannot be handed to another process",
        undefined,
      );
    }
    const node = request.node ?? process.execPath;
    try {
      accessSync(node, constants.X_OK);
      if (!statSync(node).isFile()) throw new Error('not a file');
    } catch (error) {
      throw new UpgradeFailedError(`--node ${node} is not an executable file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, undefined);
    }
    const timeoutMs = request.timeoutMs ?? supervisor.options.readyTimeoutMs + 30_000;
    const began = Date.now();
    const successor = new Successor({
      node,
      cli: process.argv[1]!,
      execArgv: process.execArgv,
      argv: ['start', ...argv],
      cwd: workingDirectory,
      env: startEnvironment,
      listeners,
      metricsFd: supervisor.metricsDescriptor,
    });
    upgrade = { successor, committed: false };
    const who = `new supervisor pid ${successor.pid ?? '(none)'}`;
    logger.info({ pid: successor.pid, node }, `upgrade: started the ${who} (${node}) with ${listeners.length} listening socket(s); both serve until it is ready`);
    progress(`started the ${who} (${node}), handing it ${listeners.map((listener) => listener.address).join(', ')}`);
    let ready;
    try {
      ready = await successor.ready(timeoutMs);
      if (stopping) throw new UpgradeFailedError('a stop was requested during the upgrade', successor.pid, { outcome: 'both supervisors are stopping' });
      progress(`${who} ready on node ${ready.node}: ${ready.workers.map((worker) => `worker ${worker.id} pid ${worker.pid}`).join(', ')}`);
      await successor.commit(10_000);
    } catch (caught) {
      const error = caught instanceof UpgradeFailedError ? caught : new UpgradeFailedError((caught as Error).message, successor.pid, { cause: caught });
      const outcome = stopping ? 'stopping both supervisors' : `stopping the ${who}; this supervisor keeps serving`;
      logger.error({ pid: successor.pid, reason: error.reason }, `upgrade failed: ${error.reason}; ${outcome}`);
      progress(`${error.reason}: ${outcome}`);
      stopSuccessor();
      await successorStopped;
      successorStopped = undefined;
      upgrade = undefined;
      // It may have taken the path and the PID file just before it died: they are this supervisor's again.
      if (!stopping) await reclaimControl();
      if (!stopping && pidFile !== undefined && readPidFile(pidFile) !== process.pid) writePidFile(pidFile);
      throw stopping ? new UpgradeFailedError(error.reason, successor.pid, { outcome: 'a stop was requested: both supervisors stopped' }) : error;
    }
    upgrade.committed = true;
    successor.release();
    logger.info({ pid: ready.pid }, `upgrade: supervisor pid ${ready.pid} (node ${ready.node}) took over the control socket${pidFile ? ' and the PID file' : ''}; draining the old workers`);
    progress(`supervisor pid ${ready.pid} took over the control socket${pidFile ? ` and ${pidFile}` : ''}; draining the old workers`);
    const stopped = await stop(`upgraded to supervisor pid ${ready.pid}`, true);
    return {
      from: { pid: process.pid, node: process.version },
      to: { pid: ready.pid, node: ready.node },
      workers: ready.workers,
      listeners,
      cuts: stopped.cuts,
      durationMs: Date.now() - began,
    };
  };

  const handlers = {
    reload: reloadWithConfiguration,
    status: statusWithApp,
    scale: (workers: number) => (upgrade ? Promise.reject(new UpgradeInProgressError('scale', upgrade.successor.pid)) : supervisor.scale(workers)),
    upgrade: (request: UpgradeRequest, progress: (message: string) => void) => {
      const answered = upgradeTo(request, progress);
      upgradeAnswered = answered.catch(() => undefined);
      return answered;
    },
  };
  // A repeated `zdt stop` waits for the stop under way; only a second signal escalates to a forced stop.
  const onControlStop = () => stopping ?? stop('stop requested over the control socket');
  let control = new ControlServer(supervisor, controlPath, onControlStop, { handlers, successor: predecessor !== undefined });
  const retiredControls: ControlServer[] = [];
  /** After a failed takeover: answer at the control path again (the dead successor's socket there is stale). */
  const reclaimControl = async () => {
    let ours = false;
    try {
      ours = control.inPlace && lstatSync(control.path).isSocket() && (await answersAsUs(control.path));
    } catch {
      ours = false;
    }
    if (ours) return;
    retiredControls.push(control);
    control = new ControlServer(supervisor, controlPath, onControlStop, { handlers });
    await control.listen();
    logger.warn(`control socket ${control.path} reclaimed after the failed upgrade`);
  };
  await control.listen();
  logger.info(`control socket ${control.path}${predecessor ? ` (at a temporary name until supervisor pid ${predecessor.pid} hands over)` : ''}`);
  if (pidFile !== undefined && !predecessor) writePidFile(pidFile);

  const reload = (signal: string) => {
    logger.info(`${signal}: reload requested`);
    reloadWithConfiguration().catch((error: Error) => {
      // A failed rollout and a configuration that does not load are logged already; other refusals need saying.
      if (error instanceof ZdtError && ['ERR_ZDT_ROLLOUT_FAILED', 'ERR_ZDT_CONFIG', 'ERR_ZDT_USAGE'].includes(error.code)) return;
      logger.warn(`reload refused: ${error.message}`);
    });
  };
  const signalHandlers: Partial<Record<NodeJS.Signals, () => void>> = {
    SIGUSR2: () => reload('SIGUSR2'),
    SIGHUP: () => reload('SIGHUP'),
    SIGTERM: () => void stop('SIGTERM'),
    SIGINT: () => void stop('SIGINT'),
  };
  const removeSignalHandlers = () => {
    for (const [signal, handler] of Object.entries(signalHandlers)) process.off(signal, handler);
  };
  for (const [signal, handler] of Object.entries(signalHandlers)) process.on(signal, handler);

  // Listening proves no live supervisor owns this path: workers still marked with it were left by a killed one.
  // After the signal handlers, so a SIGTERM meanwhile stops cleanly instead of leaving a stale socket. (A successor's
  // predecessor is alive, so its workers are not taken for orphans.)
  await stopOrphanedWorkers(findOrphanedWorkers(control.path), logger);

  let exitCode = 0;
  try {
    if (stopping) throw new Error('stopped before the workers started');
    await supervisor.start();
    logger.info(`supervisor pid ${process.pid} running; SIGUSR2 or 'zdt reload' to deploy, SIGTERM or 'zdt stop' to stop`);
    if (predecessor) void takeOverFrom(predecessor);
  } catch (error) {
    if (!stopping) {
      exitCode = error instanceof StartFailedError ? 1 : fail(error, 'start');
      if (error instanceof StartFailedError) logger.error(`${error.code}: ${error.message}`);
      predecessor?.failed(error);
      stopping = supervisor.stop();
      announceStop();
    }
  }

  /** A successor, once every worker is ready: wait for the old supervisor's word, then take the path and the PID file. */
  async function takeOverFrom(from: Predecessor): Promise<void> {
    const workers = supervisor.status().workers.map((worker) => ({ id: worker.id, pid: worker.pid, generation: worker.generation }));
    const word = await from.ready({ pid: process.pid, node: process.version, workers });
    if (stopping) return;
    try {
      control.takeOver();
      if (pidFile !== undefined) writePidFile(pidFile);
    } catch (error) {
      from.failed(error);
      logger.error(`could not take over from supervisor pid ${from.pid}: ${(error as Error).message}; stopping`);
      void stop('takeover failed');
      return;
    }
    from.committed();
    const how = word === 'commit' ? `supervisor pid ${from.pid} handed over` : `supervisor pid ${from.pid} went away before handing over`;
    logger.info(`${how}: control socket ${control.path}${pidFile ? `, PID file ${pidFile}` : ''} now this supervisor's (pid ${process.pid})`);
  }

  // The supervisor now runs until a signal, `zdt stop`, or the end of `zdt upgrade`.
  await stopRequested;
  const stopped = await stopping;
  await successorStopped;
  // The answer to `zdt upgrade` is written before the control connections close.
  await upgradeAnswered;
  removeSignalHandlers();
  await control.close();
  for (const retired of retiredControls) await retired.close();
  if (pidFile !== undefined) removePidFile(pidFile);
  process.stdout.off('error', ignoreOutputError);
  process.stderr.off('error', ignoreOutputError);
  if (forced) exitCode = 1;
  const cuts = stopped?.cuts ?? [];
  if (exitCode === 0 && cuts.length > 0) {
    exitCode = EXIT_CUT;
    logger.warn(`${new RequestsCutError(describeCuts('stop', cuts), cuts).code}: ${describeCuts('stop', cuts)}`);
  }
  if (upgrade?.committed) logger.info(`handed over to supervisor pid ${upgrade.successor.pid}`);
  predecessor?.close();
  logger.info(`supervisor stopped (exit ${exitCode})`);
  return exitCode;
}

/** Does the supervisor answering at `socketPath` have this process's pid? */
async function answersAsUs(socketPath: string): Promise<boolean> {
  try {
    const response = await sendControlCommand(socketPath, 'status');
    return response.type === 'result' && (response.data as { pid?: number } | undefined)?.pid === process.pid;
  } catch {
    return false;
  }
}

/** Error lines a client exits 2 for: the request itself (or the configuration it re-read) was bad; nothing was done. */
const BAD_INPUT_CODES = new Set(['ERR_ZDT_USAGE', 'ERR_ZDT_INVALID_OPTION', 'ERR_ZDT_CONFIG', 'ERR_ZDT_LISTEN', 'ERR_ZDT_PID_FILE']);

/**
 * The client commands share one shape: flags, --help, one control request
 * with progress printed as it arrives, exit 1 with the supervisor's reason
 * (2 when it says the input was bad).
 */
async function controlCommand(
  argv: string[],
  command: Exclude<Command, 'main' | 'start'>,
  onResult: (data: unknown, json: boolean) => string | { cut: RequestsCutError; summary: string },
  toRequest: (positionals: string[], values: Record<string, unknown>) => ControlRequest = () =>
    ({ command }) as ControlRequest,
): Promise<number> {
  const flags: FlagSpec = { control: { type: 'string' } };
  if (command === 'status') flags.json = { type: 'boolean' };
  if (command === 'upgrade') Object.assign(flags, { node: { type: 'string' }, timeout: { type: 'string' } });
  const { values, positionals } = parseFlags(argv, flags, command === 'scale');
  if (values.help) {
    print(HELP[command]);
    return 0;
  }
  const request = toRequest(positionals, values);
  const controlPath = typeof values.control === 'string' ? values.control : defaultControlPath();
  const response = await sendControlCommand(controlPath, request, (progress) => print(progress.message));
  if (response.type === 'error') {
    process.stderr.write(`zdt: ${response.code}: ${response.message}\n`);
    return BAD_INPUT_CODES.has(response.code) ? 2 : 1;
  }
  const result = onResult(response.data, values.json === true);
  if (typeof result === 'string') {
    print(result);
    return 0;
  }
  // Done, but not cleanly: the last line says what was cut, and the exit status is not 0.
  print(result.summary);
  process.stderr.write(`zdt: ${result.cut.code}: ${result.cut.message}\n`);
  return EXIT_CUT;
}

const reload = (argv: string[]) =>
  controlCommand(argv, 'reload', (data) => {
    const result = data as RolloutResult;
    // What serves is read from the slots at the end, not assumed: a new worker that crashed since is restarting.
    const serving = result.serving.every((worker) => worker.generation === result.generation)
      ? `generation ${result.generation} serves on every worker`
      : describeServing(result.serving);
    const summary = `reload done: ${serving}, ${result.replaced.length} worker(s) replaced in ${result.durationMs}ms`;
    const cuts = result.cuts ?? [];
    return cuts.length === 0 ? summary : { summary, cut: new RequestsCutError(describeCuts('reload', cuts), cuts) };
  });

const scale = (argv: string[]) =>
  controlCommand(
    argv,
    'scale',
    (data) => {
      const result = data as ScaleResult;
      const count = `${result.workers} worker${result.workers === 1 ? '' : 's'}`;
      const ids = (list: number[]) => `worker${list.length === 1 ? '' : 's'} ${list.join(', ')}`;
      const summary =
        result.added.length > 0
          ? `scaled to ${count}: added ${ids(result.added)}`
          : result.removed.length > 0
            ? `scaled to ${count}: removed ${ids(result.removed)} (drained)`
            : `already ${count}: nothing to do`;
      const cuts = result.cuts ?? [];
      return cuts.length === 0 ? summary : { summary, cut: new RequestsCutError(describeCuts('scale', cuts), cuts) };
    },
    (positionals) => {
      if (positionals.length !== 1) {
        throw new UsageError(positionals.length === 0 ? 'missing N: the number of workers wanted' : `unexpected argument ${JSON.stringify(positionals[1])}`);
      }
      const { workers } = readFlag('N', 'workers', positionals[0]!, logicalWorkingDirectory());
      return { command: 'scale', workers: workers! };
    },
  );

const upgrade = (argv: string[]) =>
  controlCommand(
    argv,
    'upgrade',
    (data) => {
      const result = data as UpgradeResult;
      const node = result.from.node === result.to.node ? `node ${result.to.node}` : `node ${result.from.node} -> ${result.to.node}`;
      const workers = result.workers.map((worker) => worker.pid).join(', ');
      const summary = `upgrade done: supervisor pid ${result.from.pid} -> ${result.to.pid}, ${node}, ${result.workers.length} new worker(s) serving (pids ${workers}) on ${result.listeners.map((listener) => listener.address).join(', ')}; the old workers drained, in ${result.durationMs}ms`;
      const cuts = result.cuts ?? [];
      return cuts.length === 0 ? summary : { summary, cut: new RequestsCutError(describeCuts('upgrade', cuts), cuts) };
    },
    (positionals, values) => {
      if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
      const request: ControlRequest = { command: 'upgrade' };
      if (typeof values.node === 'string') {
        const node = path.resolve(values.node);
        try {
          accessSync(node, constants.X_OK);
          if (!statSync(node).isFile()) throw new Error('not a file');
        } catch {
          throw new UsageError(`--node: expected an executable Node.js binary, received ${JSON.stringify(values.node)}`);
        }
        request.node = node;
      }
      if (typeof values.timeout === 'string') {
        try {
          request.timeoutMs = parseDuration(values.timeout, '--timeout');
        } catch {
          throw new UsageError(`--timeout: expected a duration like 500ms, 30s, 2m, received ${JSON.stringify(values.timeout)}`);
        }
        if (request.timeoutMs === 0) throw new UsageError(`--timeout: expected more than 0, received ${JSON.stringify(values.timeout)}`);
      }
      return request;
    },
  );

const status = (argv: string[]) =>
  controlCommand(argv, 'status', (data, json) => (json ? JSON.stringify(data, null, 2) : formatStatus(data as CliStatus)));

const stop = (argv: string[]) =>
  controlCommand(argv, 'stop', (data) => {
    const cuts = (data as StopResult | undefined)?.cuts ?? [];
    return cuts.length === 0 ? 'stopped' : { summary: 'stopped', cut: new RequestsCutError(describeCuts('stop', cuts), cuts) };
  });

function formatBytes(bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** `45s`, `3m12s`, `2h5m`, `3d4h`: the two largest units. */
function formatUptime(milliseconds: number): string {
  const seconds = Math.floor(milliseconds / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}

function formatStatus(status: CliStatus): string {
  const lines: string[] = [];
  if (status.app) lines.push(`app ${status.app.name}, configuration: ${status.app.config ?? 'command line'}`);
  if (status.node) lines.push(`node ${status.node}${status.pidFile ? `, PID file ${status.pidFile}` : ''}`);
  for (const listener of status.listeners ?? []) {
    const origin = { bound: 'bound by zdt', systemd: 'from systemd', inherited: 'inherited from the previous supervisor' }[listener.origin];
    lines.push(`listening socket ${listener.address} (fd ${listener.fd}, ${origin})`);
  }
  if (status.upgrade) lines.push(`upgrade under way: new supervisor pid ${status.upgrade.successorPid}${status.upgrade.committed ? ' has taken over' : ' is starting'}`);
  const up = status.uptimeMs === undefined ? '' : `, up ${formatUptime(status.uptimeMs)}`;
  lines.push(
    `supervisor pid ${status.pid}: ${status.state}, newest generation ${status.generation}, ${status.workers.length}/${status.workersWanted} worker process(es)${up}`,
    `entry ${status.entry}`,
    `serving: ${describeServing(status.serving)}${status.mixedGenerations ? ' (a rollback is being retried)' : ''}`,
  );
  if (status.rollout) lines.push(`rollout of generation ${status.rollout.generation} in progress${status.rollout.queued ? ', one more queued' : ''}`);
  if (status.lastRollout) {
    const last = status.lastRollout;
    lines.push(`last rollout: generation ${last.generation} ${last.outcome}${last.reason ? `: ${last.reason}` : ''}`);
    if (last.rollback) {
      const rollback = last.rollback;
      lines.push(`rollback to generation ${rollback.toGeneration}: ${rollback.rolledBack} worker(s) rolled back${rollback.complete ? '' : `, ${rollback.remaining} still on generation ${last.generation}`}`);
    }
    for (const cut of last.cuts ?? []) {
      lines.push(`cut at the drain deadline: worker ${cut.workerId} (pid ${cut.pid}) ${cut.cut === undefined ? 'was killed with requests in flight' : `cut ${cut.cut} connection(s)`}`);
    }
  }
  lines.push('', 'ID  PID      GEN  STATE     UPTIME    RESTARTS  CPU       RSS');
  for (const worker of status.workers) {
    lines.push(
      [
        String(worker.id).padEnd(3),
        String(worker.pid).padEnd(8),
        String(worker.generation).padEnd(4),
        worker.state.padEnd(9),
        formatUptime(worker.uptimeMs).padEnd(9),
        String(worker.restarts).padEnd(9),
        (worker.cpuSeconds === undefined ? '-' : `${worker.cpuSeconds.toFixed(2)}s`).padEnd(9),
        formatBytes(worker.rssBytes),
      ].join(' '),
    );
  }
  for (const loop of status.crashLoop) {
    const next = loop.nextRestartInMs === undefined ? 'restarting now' : `next restart in ${loop.nextRestartInMs}ms`;
    lines.push(`worker ${loop.workerId}: CrashLoopBackOff, ${loop.quickCrashes} quick crash(es) in a row, ${next}`);
  }
  return lines.join('\n');
}

const COMMANDS: Record<Exclude<Command, 'main'>, (argv: string[]) => Promise<number>> = { start, reload, scale, upgrade, status, stop };

function version(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name !== undefined && Object.hasOwn(COMMANDS, name) ? (name as Exclude<Command, 'main'>) : undefined;
  try {
    if (name === '--help' || name === '-h' || name === 'help') {
      print(HELP.main);
      return 0;
    }
    if (name === '--version' || name === '-v') {
      print(version());
      return 0;
    }
    if (name === undefined) throw new UsageError('missing command');
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}; expected start, reload, scale, upgrade, status or stop`);
    return await COMMANDS[command](rest);
  } catch (error) {
    return fail(error, command);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = fail(error, undefined);
  },
);
