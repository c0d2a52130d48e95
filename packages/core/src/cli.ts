#!/usr/bin/env node
/**
 * `zdt`: run an app under the supervisor in the foreground, and talk to a
 * running one over its control socket. Exit codes: 0 success, 1 the operation
 * failed (start, reload, no supervisor), 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InvalidOptionError, UsageError, ZdtError, EntryNotFoundError, StartFailedError, RequestsCutError } from './errors.js';
import { createConsoleLogger, DEFAULTS, parseDuration, type Readiness } from './options.js';
import { Supervisor, type CutReport, type RolloutResult, type StopResult, type SupervisorStatus } from './primary/supervisor.js';
import { ControlServer, defaultControlPath, sendControlCommand } from './primary/control.js';
import { ControlPathError, ControlPermissionError, ControlUntrustedError } from './errors.js';
import { findOrphanedWorkers, stopOrphanedWorkers } from './primary/orphans.js';
import { WORKER_ENV } from './protocol.js';
import { describeServing } from './primary/rollout.js';

const HELP = {
  main: `Usage: zdt <command> [options]

Commands:
  start <entry>   run <entry> under the supervisor, in the foreground
  reload          replace every worker start-first with the code now on disk
  status          show the supervisor and its workers
  stop            drain every worker and stop the supervisor

Run 'zdt <command> --help' for a command's options.
The control socket defaults to $ZDT_CONTROL; else, for root, /run/zdt/zdt.sock; else $XDG_RUNTIME_DIR/zdt.sock;
else <tmpdir>/zdt-<uid>/zdt.sock. zdt only uses a socket that is yours, in a directory only you can write to
(exit 2 with ERR_ZDT_CONTROL_UNTRUSTED otherwise).
`,
  start: `Usage: zdt start <entry> [options] [-- app args]

Runs <entry> as N cluster workers and keeps them serving through crashes and reloads.
Prints each step. SIGUSR2 or SIGHUP reloads; SIGTERM or SIGINT stops (a second one forces).

Options:
  --workers N              number of workers (default: available parallelism)
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
  --no-auto-drain          load nothing into the workers: by default the worker side is
                           preloaded, so an app that imports nothing is drained gently and a
                           boot failure is named with its cause
  --control PATH           control socket path (default: see 'zdt --help')
  -h, --help               show this help

DUR: 500ms, 30s, 2m, or a number of milliseconds (at most 2147483647ms).
Exit status: 0 after a clean stop, 1 when the start failed (the cause is printed) or a
stop was forced, 2 for bad usage, 3 when the stop cut requests at the drain deadline.
`,
  reload: `Usage: zdt reload [--control PATH]

Forks a replacement for every worker from the code now on disk, waits until it is ready,
then drains the old one. Prints progress. If a new worker fails before it is ready, the
rollout stops and every worker it already replaced is rolled back, start-first, to the last
generation that was fully ready; the last line says what serves afterwards.
A reload during a rollout queues one more rollout; further requests join that one.

Exit status: 0 every worker runs the new generation and every old one drained cleanly;
1 the rollout failed (rolled back, or not yet: the message says which generation each
worker runs) or no supervisor answered; 2 bad usage or an untrusted control socket;
3 every worker runs the new generation but old workers were cut at the drain deadline
(ERR_ZDT_REQUESTS_CUT names them).
`,
  status: `Usage: zdt status [--control PATH] [--json]

Shows the supervisor state, which generation each worker serves (and "mixed generations"
while a rollback is retried), the last rollout with its rollback and any cut requests, and
each worker: id, pid, generation, state, uptime, restarts, RSS, and any crash loop.
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
  // A control path that cannot or must not be used is bad input: nothing was attempted.
  if (error instanceof ControlUntrustedError || error instanceof ControlPathError || error instanceof ControlPermissionError) {
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

/** node:util parseArgs with its errors turned into UsageError (exit 2). */
function parseFlags<const Options extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(
  args: string[],
  options: Options,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (error) {
    // Keep parseArgs' first sentence; its advice about '--' does not apply to most commands.
    throw new UsageError((error as Error).message.split(/\.\s/)[0] ?? 'bad arguments');
  }
}

function flagValue<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InvalidOptionError) {
      throw new UsageError(`${flag}: ${error.message.replace(/^Invalid option "[^"]*": /, '')}`);
    }
    throw error;
  }
}

function parseWorkers(value: string, option: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1024) throw new InvalidOptionError(option, 'a whole number from 1 to 1024', value);
  return Number(value);
}

/** `512`, `512M`, `512MB`, `1.5G`, `1.5GB`: MiB unless the suffix says GiB. */
function parseMemory(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(m|mb|mib|g|gb|gib)?$/i.exec(value.trim());
  const amount = match ? Number(match[1]) * (/^g/i.test(match[2] ?? '') ? 1024 : 1) : Number.NaN;
  if (!match || !(amount > 0) || amount > 1024 * 1024) {
    throw new InvalidOptionError('max-memory', 'a size like 512M or 1.5G (MiB without a suffix), more than 0', value);
  }
  return amount;
}

/** `zdt reload` and `zdt stop` exit with this when the work was done but requests were cut at a drain deadline. */
const EXIT_CUT = 3;

function describeCuts(what: 'reload' | 'stop', cuts: readonly CutReport[]): string {
  const parts = cuts.map((cut) => {
    const count = cut.cut === undefined ? 'its requests in flight' : `${cut.cut} connection(s)`;
    return `worker ${cut.workerId} (pid ${cut.pid}, generation ${cut.generation}) ${cut.killed ? 'was killed at its deadline, cutting' : 'cut'} ${count}`;
  });
  return `${what === 'reload' ? 'the rollout replaced every worker, but' : 'every worker stopped, but'} ${parts.join('; ')} at the drain deadline; raise --drain-timeout to give requests more time`;
}

async function start(argv: string[]): Promise<number> {
  const separator = argv.indexOf('--');
  const own = separator >= 0 ? argv.slice(0, separator) : argv;
  const appArgs = separator >= 0 ? argv.slice(separator + 1) : [];
  const { values, positionals } = parseFlags(
    own,
    {
      workers: { type: 'string' },
      ready: { type: 'string' },
      'ready-timeout': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'cleanup-timeout': { type: 'string' },
      'heartbeat-timeout': { type: 'string' },
      'max-memory': { type: 'string' },
      'batch-size': { type: 'string' },
      'no-auto-drain': { type: 'boolean' },
      control: { type: 'string' },
    },
    true,
  );
  if (values.help) {
    print(HELP.start);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('missing <entry>: the app file to run');
  if (positionals.length > 1) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}; put app arguments after --`);
  }
  const entry = positionals[0] as string;
  const workers = values.workers === undefined ? undefined : flagValue('--workers', () => parseWorkers(values.workers as string, 'workers'));
  const rolloutBatchSize =
    values['batch-size'] === undefined ? undefined : flagValue('--batch-size', () => parseWorkers(values['batch-size'] as string, 'batch-size'));
  let readiness: Readiness | undefined;
  if (values.ready !== undefined) {
    if (values.ready !== 'listening' && values.ready !== 'message') {
      throw new UsageError(`--ready: expected "listening" or "message", received ${JSON.stringify(values.ready)}`);
    }
    readiness = values.ready;
  }
  const readyTimeoutMs =
    values['ready-timeout'] === undefined ? undefined : flagValue('--ready-timeout', () => parseDuration(values['ready-timeout'] as string, 'ready-timeout'));
  const drainTimeoutMs =
    values['drain-timeout'] === undefined ? undefined : flagValue('--drain-timeout', () => parseDuration(values['drain-timeout'] as string, 'drain-timeout'));
  const cleanupTimeoutMs =
    values['cleanup-timeout'] === undefined ? undefined : flagValue('--cleanup-timeout', () => parseDuration(values['cleanup-timeout'] as string, 'cleanup-timeout'));
  const heartbeatTimeoutMs =
    values['heartbeat-timeout'] === undefined ? undefined : flagValue('--heartbeat-timeout', () => parseDuration(values['heartbeat-timeout'] as string, 'heartbeat-timeout'));
  const maxMemoryMb = values['max-memory'] === undefined ? undefined : flagValue('--max-memory', () => parseMemory(values['max-memory'] as string));
  if (readyTimeoutMs === 0) throw new UsageError('--ready-timeout: must be more than 0, received "0"');
  if (drainTimeoutMs === 0) throw new UsageError('--drain-timeout: must be more than 0, received "0"');
  if (heartbeatTimeoutMs !== undefined && heartbeatTimeoutMs <= DEFAULTS.heartbeatIntervalMs) {
    throw new UsageError(`--heartbeat-timeout: must be more than the ${DEFAULTS.heartbeatIntervalMs}ms ping interval, received ${JSON.stringify(values['heartbeat-timeout'])}`);
  }
  const controlPath = values.control ?? defaultControlPath();

  // A log reader that went away (EPIPE) must not take the supervisor, and with it every worker, down.
  const ignoreOutputError = () => {};
  process.stdout.on('error', ignoreOutputError);
  process.stderr.on('error', ignoreOutputError);
  const logger = createConsoleLogger(process.stdout);
  // Markers a later `zdt start` on the same control path uses to find workers this process leaves behind if SIGKILLed.
  const orphanMarkers = { [WORKER_ENV.supervisorPid]: String(process.pid), [WORKER_ENV.supervisorControl]: path.resolve(controlPath) };
  const supervisor = new Supervisor({
    entry,
    args: appArgs,
    env: orphanMarkers,
    workers,
    readiness,
    readyTimeoutMs,
    drainTimeoutMs,
    cleanupTimeoutMs,
    heartbeatTimeoutMs,
    maxMemoryMb,
    rolloutBatchSize,
    autoDrain: values['no-auto-drain'] === true ? false : undefined,
    logger,
  });

  let stopping: Promise<StopResult> | undefined;
  let forced = false;
  let announceStop!: () => void;
  const stopRequested = new Promise<void>((resolve) => {
    announceStop = resolve;
  });
  const stop = (why: string): Promise<StopResult> => {
    if (stopping) {
      forced = true;
      logger.warn(`${why} again: forcing stop (SIGKILL every worker)`);
      void supervisor.stop({ force: true });
      return stopping;
    }
    logger.info(`${why}: stopping`);
    stopping = supervisor.stop();
    announceStop();
    return stopping;
  };
  // A repeated `zdt stop` waits for the stop under way; only a second signal escalates to a forced stop.
  const control = new ControlServer(supervisor, controlPath, () => stopping ?? stop('stop requested over the control socket'));
  await control.listen();
  logger.info(`control socket ${control.path}`);

  const reload = (signal: string) => {
    logger.info(`${signal}: reload requested`);
    supervisor.reload().catch((error: Error) => {
      // The supervisor already logged a failed rollout; only other refusals need saying.
      if (!(error instanceof ZdtError) || error.code !== 'ERR_ZDT_ROLLOUT_FAILED') logger.warn(`reload refused: ${error.message}`);
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
  // After the signal handlers, so a SIGTERM meanwhile stops cleanly instead of leaving a stale socket.
  await stopOrphanedWorkers(findOrphanedWorkers(control.path), logger);

  let exitCode = 0;
  try {
    if (stopping) throw new Error('stopped before the workers started');
    await supervisor.start();
    logger.info(`supervisor pid ${process.pid} running; SIGUSR2 or 'zdt reload' to deploy, SIGTERM or 'zdt stop' to stop`);
  } catch (error) {
    if (!stopping) {
      exitCode = error instanceof StartFailedError ? 1 : fail(error, 'start');
      if (error instanceof StartFailedError) logger.error(`${error.code}: ${error.message}`);
      stopping = supervisor.stop();
      announceStop();
    }
  }
  // The supervisor now runs until a signal or `zdt stop`.
  await stopRequested;
  const stopped = await stopping;
  removeSignalHandlers();
  await control.close();
  process.stdout.off('error', ignoreOutputError);
  process.stderr.off('error', ignoreOutputError);
  if (forced) exitCode = 1;
  const cuts = stopped?.cuts ?? [];
  if (exitCode === 0 && cuts.length > 0) {
    exitCode = EXIT_CUT;
    logger.warn(`${new RequestsCutError(describeCuts('stop', cuts), cuts).code}: ${describeCuts('stop', cuts)}`);
  }
  logger.info(`supervisor stopped (exit ${exitCode})`);
  return exitCode;
}

/**
 * The client commands share one shape: flags, --help, one control request
 * with progress printed as it arrives, exit 1 with the supervisor's reason.
 */
async function controlCommand(
  argv: string[],
  command: 'reload' | 'status' | 'stop',
  onResult: (data: unknown, json: boolean) => string | { cut: RequestsCutError; summary: string },
): Promise<number> {
  const flags: Record<string, { type: 'string' | 'boolean' }> =
    command === 'status' ? { control: { type: 'string' }, json: { type: 'boolean' } } : { control: { type: 'string' } };
  const { values } = parseFlags(argv, flags, false);
  if (values.help) {
    print(HELP[command]);
    return 0;
  }
  const controlPath = typeof values.control === 'string' ? values.control : defaultControlPath();
  const response = await sendControlCommand(controlPath, command, (progress) => print(progress.message));
  if (response.type === 'error') {
    process.stderr.write(`zdt: ${response.code}: ${response.message}\n`);
    return 1;
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

const status = (argv: string[]) =>
  controlCommand(argv, 'status', (data, json) => (json ? JSON.stringify(data, null, 2) : formatStatus(data as SupervisorStatus)));

const stop = (argv: string[]) =>
  controlCommand(argv, 'stop', (data) => {
    const cuts = (data as StopResult | undefined)?.cuts ?? [];
    return cuts.length === 0 ? 'stopped' : { summary: 'stopped', cut: new RequestsCutError(describeCuts('stop', cuts), cuts) };
  });

function formatBytes(bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function formatStatus(status: SupervisorStatus): string {
  const lines = [
    `supervisor pid ${status.pid}: ${status.state}, newest generation ${status.generation}, ${status.workers.length}/${status.workersWanted} worker process(es)`,
    `entry ${status.entry}`,
    `serving: ${describeServing(status.serving)}${status.mixedGenerations ? ' (a rollback is being retried)' : ''}`,
  ];
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
  lines.push('', 'ID  PID      GEN  STATE     UPTIME    RESTARTS  RSS');
  for (const worker of status.workers) {
    lines.push(
      [
        String(worker.id).padEnd(3),
        String(worker.pid).padEnd(8),
        String(worker.generation).padEnd(4),
        worker.state.padEnd(9),
        `${Math.round(worker.uptimeMs / 1000)}s`.padEnd(9),
        String(worker.restarts).padEnd(9),
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

const COMMANDS: Record<Exclude<Command, 'main'>, (argv: string[]) => Promise<number>> = { start, reload, status, stop };

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
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}; expected start, reload, status or stop`);
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
