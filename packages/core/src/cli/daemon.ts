/**
 * The supervisor `zdt start` runs in the foreground: its configuration, its control socket, the signals it answers,
 * the PID file, and `zdt upgrade`'s hand-over. One object owns that state; it runs until a signal, `zdt stop` or the
 * end of an upgrade, and `run()` resolves with the exit status.
 */
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { RequestsCutError, StartFailedError, UpgradeInProgressError, UsageError, ZdtError } from '../errors.js';
import { createConsoleLogger, createJsonLogger, type Logger, type ReloadUpdate } from '../options.js';
import { restartOnlyChanges, type ResolvedSettings } from '../config.js';
import { Supervisor, type RolloutResult, type StopResult } from '../primary/supervisor.js';
import { ControlServer, defaultControlPath, sendControlCommand, temporaryControlPath, type UpgradeRequest } from '../primary/control/server.js';
import { checkPidFile, removePidFile, writePidFile } from '../primary/host/pid-file.js';
import type { Predecessor } from '../primary/upgrade/upgrade.js';
import { handOver, takeOver, type UpgradeResult, type UpgradeUnderWay } from '../primary/upgrade/handover.js';
import { findOrphanedWorkers, stopOrphanedWorkers } from '../primary/host/orphans.js';
import { WORKER_ENV } from '../protocol.js';
import { SETTINGS } from '../settings/table.js';
import { describeCuts, EXIT_CUT, fail } from './output.js';
import { DEFAULT_KEEP_RELEASES, ReleaseStore } from '../releases/store.js';
import { ReleaseSwitch } from '../releases/switch.js';
import type { CliStatus } from './status-format.js';
import type { StartCommand } from './start-command.js';

/** The keys a reload applies, as the settings table says. */
const RELOAD_APPLIES = SETTINGS.filter((setting) => setting.reload).map((setting) => setting.key).join(', ');

/** Refusals of a signalled reload that were logged already. */
const LOGGED_REFUSALS = ['ERR_ZDT_ROLLOUT_FAILED', 'ERR_ZDT_CONFIG', 'ERR_ZDT_USAGE'];

export class Daemon {
  readonly supervisor: Supervisor;
  readonly logger: Logger;
  readonly pidFile: string | undefined;
  private readonly controlPath: string;
  /** Markers a later `zdt start` on the same control path uses to find workers this process leaves behind if SIGKILLed. */
  private readonly orphanMarkers: Record<string, string>;
  private current: ResolvedSettings;
  /** The worker count in the file applies when it changes there, so a reload does not undo a `zdt scale`. */
  private appliedFileWorkers: number | undefined;
  private stopping: Promise<StopResult> | undefined;
  private forced = false;
  private stopAfterHandover = false;
  private announceStop!: () => void;
  private readonly stopRequested = new Promise<void>((resolve) => {
    this.announceStop = resolve;
  });
  upgrade: UpgradeUnderWay | undefined;
  private successorStopped: Promise<void> | undefined;
  private upgradeAnswered: Promise<unknown> | undefined;
  private control: ControlServer;
  /** With `deployTo`: the releases zdt keeps, switched by `zdt deploy` and `zdt rollback` and back by a refusal. */
  private readonly releases: ReleaseSwitch | undefined;
  private readonly retiredControls: ControlServer[] = [];
  private readonly signalHandlers: Partial<Record<NodeJS.Signals, () => void>> = {
    SIGUSR2: () => this.reloadOnSignal('SIGUSR2'),
    SIGHUP: () => this.reloadOnSignal('SIGHUP'),
    SIGTERM: () => void this.stop('SIGTERM'),
    SIGINT: () => void this.stop('SIGINT'),
  };
  /** A log reader that went away (EPIPE) must not take the supervisor, and with it every worker, down. */
  private readonly ignoreOutputError = () => {};

  constructor(
    private readonly command: StartCommand,
    private readonly predecessor: Predecessor | undefined,
  ) {
    const { started } = command;
    this.current = started;
    this.appliedFileWorkers = started.fromFile.workers;
    this.controlPath = started.controlPath ?? defaultControlPath();
    this.pidFile = started.pidFile;
    if (this.pidFile !== undefined) checkPidFile(this.pidFile);
    process.stdout.on('error', this.ignoreOutputError);
    process.stderr.on('error', this.ignoreOutputError);
    this.logger = started.logFormat === 'json' ? createJsonLogger(process.stdout) : createConsoleLogger(process.stdout);
    this.warnIgnored(started);
    this.orphanMarkers = { [WORKER_ENV.supervisorPid]: String(process.pid), [WORKER_ENV.supervisorControl]: path.resolve(this.controlPath) };
    this.supervisor = this.createSupervisor();
    this.releases = started.deployTo === undefined ? undefined : new ReleaseSwitch(new ReleaseStore(started.deployTo), {
      supervisor: this.supervisor,
      logger: this.logger,
      reload: () => this.reload(),
      keepReleases: () => this.current.keepReleases ?? DEFAULT_KEEP_RELEASES,
    });
    this.logger.info({ config: started.configFile ?? null, app: started.name }, `app ${started.name}, configuration: ${started.configFile ?? 'command line'}`);
    this.control = this.createControl(predecessor !== undefined);
  }

  private createSupervisor(): Supervisor {
    const { started, inherited, activated } = this.command;
    return new Supervisor({
      // Relative to cwd where it can be, so an error names the file the way it was given.
      entry: path.relative(started.cwd, started.entry) || started.entry,
      cwd: started.cwd,
      args: started.args,
      env: { ...started.env, ...this.orphanMarkers },
      execArgv: started.execArgv,
      workers: started.workers,
      readiness: started.readiness,
      readyTimeoutMs: started.readyTimeoutMs,
      drainTimeoutMs: started.drainTimeoutMs,
      cleanupTimeoutMs: started.cleanupTimeoutMs,
      heartbeatTimeoutMs: started.heartbeatTimeoutMs,
      maxMemoryMb: started.maxMemoryMb,
      rolloutBatchSize: started.rolloutBatchSize,
      canaryMs: started.canaryMs,
      canaryMinRequests: started.canaryMinRequests,
      canaryThinTraffic: started.canaryThinTraffic,
      autoDrain: started.autoDrain,
      metrics: started.metrics,
      metricsFd: inherited.metricsFd,
      listen: [...activated, ...inherited.listeners, ...(started.listen ?? [])],
      ...(started.sticky === undefined ? {} : { sticky: started.sticky }),
      logger: this.logger,
    });
  }

  private createControl(successor: boolean): ControlServer {
    const handlers = {
      reload: ({ canaryMs }: { canaryMs?: number }) => this.reload(canaryMs),
      status: () => this.status(),
      scale: (workers: number) =>
        this.upgrade ? Promise.reject(new UpgradeInProgressError('scale', this.upgrade.successor.pid)) : this.supervisor.scale(workers),
      deploy: (request: { release: string; deployTo: string; keepReleases?: number }) => this.keptReleases(request.deployTo).deploy(request.release, request.keepReleases),
      rollback: (release: string | undefined) => this.keptReleases().rollback(release),
      upgrade: (request: UpgradeRequest, progress: (message: string) => void) => {
        const answered = handOver(this.predecessorHost(), request, progress);
        // Every answer, a refused second upgrade's included: the first one's is written after its drain.
        this.upgradeAnswered = Promise.all([this.upgradeAnswered, answered.catch(() => undefined)]);
        return answered as Promise<UpgradeResult>;
      },
    };
    // A repeated `zdt stop` waits for the stop under way; only a second signal escalates to a forced stop.
    const onControlStop = () => this.stopping ?? this.stop('stop requested over the control socket');
    return new ControlServer(this.supervisor, this.controlPath, onControlStop, { handlers, successor });
  }

  private warnIgnored(settings: ResolvedSettings): void {
    for (const warning of settings.warnings) this.logger.warn({ config: settings.configFile }, `${settings.configFile}: ${warning}`);
  }

  /** Every reload, by signal or control socket: re-read the configuration (a broken one rejects, nothing changes). */
  async reload(canaryMs?: number): Promise<RolloutResult> {
    if (this.upgrade) throw new UpgradeInProgressError('reload', this.upgrade.successor.pid);
    let next: ResolvedSettings;
    try {
      next = await this.command.configuration.read();
    } catch (error) {
      const code = error instanceof ZdtError ? `${error.code}: ` : '';
      this.logger.error({ code: (error as ZdtError).code }, `reload refused: ${code}${(error as Error).message}; the workers keep running unchanged`);
      throw error;
    }
    this.warnIgnored(next);
    const changed = restartOnlyChanges(this.command.started, next);
    if (changed.length > 0) {
      this.logger.warn(
        { config: next.configFile, keys: changed },
        `${changed.join(', ')} changed since start: applied at the next 'zdt start' or 'zdt upgrade' (a reload applies ${RELOAD_APPLIES})`,
      );
    }
    const update: ReloadUpdate = { env: { ...next.env, ...this.orphanMarkers }, args: next.args ?? [], execArgv: next.execArgv ?? [], ...(canaryMs === undefined ? {} : { canaryMs }) };
    const fileWorkers = next.fromFile.workers;
    if (this.command.commandLine.workers === undefined && fileWorkers !== undefined && fileWorkers !== this.appliedFileWorkers) update.workers = fileWorkers;
    const result = await this.supervisor.reload(update);
    this.appliedFileWorkers = fileWorkers;
    this.current = next;
    return result;
  }

  private reloadOnSignal(signal: string): void {
    this.logger.info(`${signal}: reload requested`);
    this.reload().catch((error: Error) => {
      // A failed rollout and a configuration that does not load are logged already; other refusals need saying.
      if (error instanceof ZdtError && LOGGED_REFUSALS.includes(error.code)) return;
      this.logger.warn(`reload refused: ${error.message}`);
    });
  }

  /** The releases this supervisor keeps; a deploy kept elsewhere, or none kept, is refused before anything changes. */
  private keptReleases(deployTo?: string): ReleaseSwitch {
    if (this.upgrade) throw new UpgradeInProgressError('reload', this.upgrade.successor.pid);
    const base = this.releases?.store.base;
    if (base === undefined) throw new UsageError("this supervisor keeps no releases: start it with --deploy-to DIR (or the deployTo key)");
    if (deployTo !== undefined && path.resolve(deployTo) !== base) throw new UsageError(`the release was kept in ${deployTo}, but this supervisor deploys from ${base}`);
    return this.releases!;
  }

  /** `zdt status --json`: the supervisor's status plus what only `zdt start` knows. */
  status(): CliStatus {
    return {
      ...this.supervisor.status(),
      uptimeMs: Math.round(process.uptime() * 1000),
      node: process.version,
      app: { name: this.current.name, config: this.current.configFile ?? null },
      pidFile: this.pidFile ?? null,
      upgrade: this.upgrade ? { successorPid: this.upgrade.successor.pid, committed: this.upgrade.committed } : null,
      release: this.supervisor.servingRelease?.cwd ?? null,
      deployTo: this.releases?.store.base ?? null,
    };
  }

  /** A stop during an upgrade stops the new supervisor too (under systemd, the old one is still the main process). */
  private stopSuccessor(): void {
    if (!this.upgrade || this.successorStopped) return;
    const { successor } = this.upgrade;
    this.logger.info({ pid: successor.pid }, `stopping the new supervisor pid ${successor.pid} too`);
    this.successorStopped = successor.stop(this.supervisor.options.killAfterMs + 2_000, temporaryControlPath(this.control.path, successor.pid));
  }

  stop(why: string, handedOver = false): Promise<StopResult> {
    // Handed over and draining: a stop now is for both supervisors, not a forced one.
    if (this.stopping && this.upgrade?.committed && !handedOver && !this.stopAfterHandover) {
      this.stopAfterHandover = true;
      this.logger.info(`${why}: the old workers are draining already`);
      this.stopSuccessor();
      return this.stopping;
    }
    if (this.stopping) {
      this.forced = true;
      this.logger.warn(`${why} again: forcing stop (SIGKILL every worker)`);
      this.killSuccessor();
      void this.supervisor.stop({ force: true });
      return this.stopping;
    }
    this.logger.info(`${why}: stopping`);
    if (!handedOver) this.stopSuccessor();
    this.stopping = this.supervisor.stop({ handedOver });
    this.announceStop();
    return this.stopping;
  }

  private killSuccessor(): void {
    const successor = this.upgrade?.successor;
    if (successor?.pid === undefined || !successor.running) return;
    try {
      process.kill(-successor.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }

  private predecessorHost() {
    const daemon = this;
    return {
      supervisor: this.supervisor,
      logger: this.logger,
      startArguments: this.command.argv,
      workingDirectory: this.command.workingDirectory,
      startEnvironment: this.command.startEnvironment,
      pidFile: this.pidFile,
      get stopping() {
        return daemon.stopping !== undefined;
      },
      get upgrade() {
        return daemon.upgrade;
      },
      set upgrade(value) {
        daemon.upgrade = value;
      },
      abandonSuccessor: async () => {
        this.stopSuccessor();
        await this.successorStopped;
        this.successorStopped = undefined;
        this.upgrade = undefined;
      },
      reclaimControl: () => this.reclaimControl(),
      stop: (why: string, handedOver: boolean) => this.stop(why, handedOver),
    };
  }

  /** After a failed takeover: answer at the control path again (the dead successor's socket there is stale). */
  private async reclaimControl(): Promise<void> {
    let ours = false;
    try {
      ours = this.control.inPlace && lstatSync(this.control.path).isSocket() && (await answersAsUs(this.control.path));
    } catch {
      ours = false;
    }
    if (ours) return;
    this.retiredControls.push(this.control);
    this.control = this.createControl(false);
    await this.control.listen();
    this.logger.warn(`control socket ${this.control.path} reclaimed after the failed upgrade`);
  }

  private takeOverFrom(from: Predecessor): Promise<void> {
    const daemon = this;
    return takeOver(
      {
        supervisor: this.supervisor,
        logger: this.logger,
        pidFile: this.pidFile,
        get stopping() {
          return daemon.stopping !== undefined;
        },
        get controlPath() {
          return daemon.control.path;
        },
        takeOverControl: () => this.control.takeOver(),
        stop: (why) => void this.stop(why),
      },
      from,
    );
  }

  /** Serves until a signal, `zdt stop` or the end of `zdt upgrade`; resolves with the exit status. */
  async run(): Promise<number> {
    const { predecessor, logger, pidFile } = this;
    await this.control.listen();
    logger.info(`control socket ${this.control.path}${predecessor ? ` (at a temporary name until supervisor pid ${predecessor.pid} hands over)` : ''}`);
    if (pidFile !== undefined && !predecessor) writePidFile(pidFile);
    for (const [signal, handler] of Object.entries(this.signalHandlers)) process.on(signal, handler);
    // Listening proves no live supervisor owns this path: workers still marked with it were left by a killed one.
    // After the signal handlers, so a SIGTERM meanwhile stops cleanly instead of leaving a stale socket. (A successor's
    // predecessor is alive, so its workers are not taken for orphans.)
    await stopOrphanedWorkers(findOrphanedWorkers(this.control.path), logger);
    let exitCode = 0;
    try {
      if (this.stopping) throw new Error('stopped before the workers started');
      // A successor answers no scrape until it has the old supervisor's app metrics (or the old one is gone).
      if (predecessor) this.supervisor.appMetrics.hold();
      await this.supervisor.start();
      logger.info(`supervisor pid ${process.pid} running; SIGUSR2 or 'zdt reload' to deploy, SIGTERM or 'zdt stop' to stop`);
      if (predecessor) void this.takeOverFrom(predecessor);
    } catch (error) {
      if (!this.stopping) {
        exitCode = error instanceof StartFailedError ? 1 : fail(error, 'start');
        if (error instanceof StartFailedError) logger.error(`${error.code}: ${error.message}`);
        predecessor?.failed(error);
        this.stopping = this.supervisor.stop();
        this.announceStop();
      }
    }
    await this.stopRequested;
    return this.finish(exitCode, await this.stopping);
  }

  private async finish(startExitCode: number, stopped: StopResult | undefined): Promise<number> {
    await this.successorStopped;
    // The answer to `zdt upgrade` is written before the control connections close.
    await this.upgradeAnswered;
    for (const [signal, handler] of Object.entries(this.signalHandlers)) process.off(signal, handler);
    await this.control.close();
    for (const retired of this.retiredControls) await retired.close();
    if (this.pidFile !== undefined) removePidFile(this.pidFile);
    process.stdout.off('error', this.ignoreOutputError);
    process.stderr.off('error', this.ignoreOutputError);
    let exitCode = this.forced ? 1 : startExitCode;
    const cuts = stopped?.cuts ?? [];
    if (exitCode === 0 && cuts.length > 0) {
      exitCode = EXIT_CUT;
      this.logger.warn(`${new RequestsCutError(describeCuts('stop', cuts), cuts).code}: ${describeCuts('stop', cuts)}`);
    }
    if (this.upgrade?.committed) this.logger.info(`handed over to supervisor pid ${this.upgrade.successor.pid}`);
    this.predecessor?.close();
    this.logger.info(`supervisor stopped (exit ${exitCode})`);
    return exitCode;
  }
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
