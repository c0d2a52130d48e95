/**
 * The supervisor: the one owner of every worker slot, restart timer and
 * rollout. Workers are forked with node:cluster so they share listening
 * sockets. Every worker enters its slot through the start-first step in
 * rollout.ts, so capacity never drops to zero for a deploy or a replacement.
 */
import { EventEmitter } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { describeError } from '../error-summary.js';
import {
  EntryNotFoundError,
  InvalidStateError,
  RolloutFailedError,
  ScaleFailedError,
  StartFailedError,
  type RollbackSummary,
  type ServingWorker,
} from '../errors.js';
import {
  resolveOptions,
  resolveReloadUpdate,
  type ReloadUpdate,
  type ResolvedOptions,
  type ResolvedReloadUpdate,
  type SupervisorOptions,
} from '../options.js';
import type { AppMetric, ShutdownReason, WorkerToPrimary } from '../protocol.js';
import { AppMetricsAggregator } from './app-metrics.js';
import { render } from './exposition.js';
import { readCpuSeconds, SupervisorMetrics, type RestartCause } from './metrics.js';
import { MetricsServer, type ListenAddress } from './metrics-server.js';
import { HealthMonitor, readRssBytes } from './monitor.js';
import { Listeners, type ListenerInfo } from './listeners.js';
import { resolveRelease, type Release, type ReleaseSettings } from './release.js';
import { findPreload, launchWorker } from './launch.js';
import { workerMessageHandlers, type MessageHandlers } from './worker-messages.js';
import { logEvents } from './event-log.js';
import { backoffDelay, Restarts } from './restarts.js';
import {
  describeExit,
  describeNotReady,
  describeServing,
  rollBack,
  runRollout,
  servingBySlot,
  startFirst,
  type CutReport,
  type ReplacedWorker,
  type RolloutContext,
  type StepResult,
} from './rollout.js';
import { Slot } from './slot.js';
import { WorkerHandle, type WorkerExit } from './worker-handle.js';
import type { CrashLoopStatus, RolloutOutcome, RolloutResult, ScaleResult, StopResult, SupervisorEvents, SupervisorState, SupervisorStatus, WorkerInfo, WorkerStatus } from './supervisor-types.js';

export type { ReplacedWorker, CutReport } from './rollout.js';

export type { CrashLoopStatus, RolloutOutcome, RolloutResult, ScaleResult, StopResult, SupervisorEvents, SupervisorState, SupervisorStatus, WorkerStatus } from './supervisor-types.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly options: ResolvedOptions;
  private currentState: SupervisorState = 'idle';
  /** The newest generation started. */
  private generation = 0;
  /** The last release whose every worker became ready: forked by crash restarts, replacements and rollbacks. */
  private lastGood: Release | undefined;
  private readonly slots: Slot[] = [];
  /** Every live worker process: slot owners, candidates and workers being retired. */
  private readonly handles = new Set<WorkerHandle>();
  private activeRollout: { generation: number; promise: Promise<RolloutResult> } | undefined;
  private queuedRollout: Deferred<RolloutResult> | undefined;
  private lastRollout: RolloutOutcome | null = null;
  private rollbackRetry: { timer: NodeJS.Timeout; attempts: number } | undefined;
  /** The settings the next generation is started with; a reload may bring new ones. */
  private settings: ReleaseSettings;
  /** What the next rollout applies: the last reload request's update wins. */
  private pendingUpdate: ResolvedReloadUpdate | undefined;
  /** Scale requests and rollouts change the slot list one at a time. */
  private slotChanges: Promise<unknown> = Promise.resolve();
  private readonly monitor: HealthMonitor;
  private readonly stopController = new AbortController();
  private stopping: Promise<StopResult> | undefined;
  private readonly preload = findPreload();
  /** What deploys did, kept by the supervisor across every worker. */
  private readonly metrics = new SupervisorMetrics();
  private readonly appMetrics = new AppMetricsAggregator();
  private metricsServer: MetricsServer | undefined;
  private metricsBound: ListenAddress | undefined;
  private collectSeq = 0;
  /** Sockets the supervisor owns and hands to every worker; none unless `listen` is set. */
  private sockets = Listeners.none();
  /** Addresses already warned about: listened on through node:cluster while the supervisor owns sockets. */
  private readonly unmappedWarned = new Set<string>();
  private handedOver = false;
  private readonly collecting = new Map<number, { answered: (handle: WorkerHandle, metrics: AppMetric[] | null) => void }>();
  /** Every message a worker may send, handled in one place (worker-messages.ts); unknown verbs are ignored. */
  private readonly messageHandlers: MessageHandlers;
  /** Crash restarts with back-off, and start-first replacements (restarts.ts). */
  private readonly restarts: Restarts;

  constructor(options: SupervisorOptions) {
    super();
    this.options = resolveOptions(options);
    this.settings = { env: this.options.env, args: this.options.args, execArgv: this.options.execArgv };
    this.messageHandlers = workerMessageHandlers({
      options: this.options,
      log: () => this.log,
      metrics: this.metrics,
      appMetrics: this.appMetrics,
      collecting: this.collecting,
      info: (handle) => this.info(handle),
      askedToBeReplaced: (handle, reason) => {
        this.emit('replace', { ...this.info(handle), reason });
        const slot = this.slots[handle.id - 1];
        if (slot) this.restarts.replace(slot, handle, 'replace');
      },
    });
    const { entry, entryPath } = this.options;
    if (!existsSync(entryPath) || !statSync(entryPath).isFile()) throw new EntryNotFoundError(entry, entryPath);
    const { heartbeatIntervalMs, heartbeatTimeoutMs, maxMemoryBytes, monitorIntervalMs } = this.options;
    logEvents(this, this.options);
    this.restarts = new Restarts({
      options: this.options,
      metrics: this.metrics,
      log: () => this.log,
      state: () => this.currentState,
      lastGood: () => this.lastGood,
      info: (handle) => this.info(handle),
      emit: (event, payload) => this.emit(event, payload),
      stepContext: () => this.stepContext(),
      step: (slot, release, reason) => this.step(slot, release, reason),
    });
    this.monitor = new HealthMonitor(
      { intervalMs: monitorIntervalMs, heartbeatIntervalMs, heartbeatTimeoutMs, maxMemoryBytes },
      this.slots,
      this.handles,
      {
        hung: (slot, handle, silentForMs) => {
          if (this.restarts.isBeingReplaced(handle)) return;
          const info = this.info(handle);
          this.emit('hung', { ...info, silentForMs });
          this.restarts.replace(slot, handle, 'hung');
        },
        overMemory: (slot, handle, rssBytes) => {
          if (this.restarts.isBeingReplaced(handle)) return;
          const info = this.info(handle);
          this.emit('memory', { ...info, rssBytes, limitBytes: maxMemoryBytes });
          this.restarts.replace(slot, handle, 'memory');
        },
      },
    );
  }

  get state(): SupervisorState {
    return this.currentState;
  }

  /** Where the metrics are served once `start()` bound them (the real port when 0 was asked); undefined when off. */
  get metricsAddress(): ListenAddress | undefined {
    return this.metricsBound;
  }

  private get log() {
    return this.options.logger;
  }

  private info(handle: WorkerHandle): WorkerInfo {
    return { workerId: handle.id, pid: handle.pid, generation: handle.generation };
  }

  private setState(to: SupervisorState): void {
    const from = this.currentState;
    if (from === to) return;
    this.currentState = to;
    this.emit('state', { from, to });
  }

  /** Forks every worker and resolves when all are ready; on failure stops what it started and rejects StartFailedError. */
  async start(): Promise<void> {
    if (this.currentState !== 'idle') throw new InvalidStateError('start', this.currentState);
    this.setState('starting');
    const { workers, entryPath, cwd } = this.options;
    this.log.info({ entry: entryPath, workers, pid: process.pid }, `starting ${workers} worker${workers === 1 ? '' : 's'} of ${entryPath}`);
    for (let id = 1; id <= workers; id++) this.slots.push(new Slot(id));
    try {
      if (this.options.listen.length > 0) {
        // Only the preload maps the app's listen() onto these sockets: without it the workers would bind on their own.
        if (!this.preload && !this.options.fork) throw new Error('the worker preload (dist/preload.cjs) is missing: build the package before using listen');
        try {
          this.sockets = await Listeners.open(this.options.listen, cwd);
        } catch (error) {
          throw new Error(`the listening sockets could not be opened: ${(error as Error).message}`);
        }
        for (const listener of this.sockets.info()) {
          const how = listener.origin === 'bound' ? 'bound' : listener.origin === 'systemd' ? 'from systemd (LISTEN_FDS)' : 'inherited from the previous supervisor';
          this.log.info({ ...listener }, `listening socket ${listener.address} (fd ${listener.fd}, ${how}): the workers accept on it`);
        }
      }
      if (this.options.metrics) {
        const server = new MetricsServer(() => this.metricsText());
        this.metricsServer = server;
        try {
          this.metricsBound = await server.listen(this.options.metrics, this.options.metricsFd);
        } catch (error) {
          const { host, port } = this.options.metrics;
          throw new Error(`the metrics endpoint could not listen on ${host}:${port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        }
        this.log.info(this.metricsBound, `metrics on http://${this.metricsBound.host.includes(':') ? `[${this.metricsBound.host}]` : this.metricsBound.host}:${this.metricsBound.port}/metrics`);
      }
      const release = resolveRelease(0, cwd, entryPath, this.settings);
      const results = await Promise.all(this.slots.map((slot) => slot.exclusive(() => this.step(slot, release, 'stop'))));
      const failed = results.find((result) => !result.ok);
      if (failed && !failed.ok) throw new Error(`worker ${failed.candidate.id} (pid ${failed.candidate.pid}) ${describeNotReady(failed.failure)}`);
      const lost = this.slots.find((slot) => !slot.current?.isAlive);
      if (lost) throw new Error(`worker ${lost.id} exited right after it was ready`);
      // stop() may have run while we awaited.
      const state = this.currentState as SupervisorState;
      if (state !== 'starting') throw new Error(`the supervisor is ${state}`);
      this.lastGood = release;
    } catch (error) {
      const failed = this.slots.find((slot) => !slot.current || slot.current.state !== 'ready');
      const reason = error instanceof Error ? error.message : String(error);
      this.log.error({ reason }, `start failed: ${reason}; stopping the workers that did start`);
      await this.stop();
      throw new StartFailedError(`Start failed: ${reason}; every worker was stopped`, failed?.id, { cause: error });
    }
    this.setState('running');
    this.monitor.start();
    this.log.info({ workers, generation: this.generation }, 'all workers ready');
  }

  /**
   * Replaces every worker start-first with a fork of the code now on disk.
   * Concurrency rule: a reload while a rollout runs queues exactly one more
   * rollout; every further request joins that queued one (it will fork the
   * newest code anyway).
   */
  reload(update?: ReloadUpdate): Promise<RolloutResult> {
    if (this.currentState !== 'running') return Promise.reject(new InvalidStateError('reload', this.currentState));
    if (update !== undefined) {
      try {
        // The newest request's settings win: a queued rollout forks with what was asked last.
        this.pendingUpdate = { ...this.pendingUpdate, ...resolveReloadUpdate(update) };
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (!this.activeRollout) return this.beginRollout();
    if (!this.queuedRollout) {
      this.queuedRollout = deferred();
      this.log.info({ running: this.activeRollout.generation }, 'reload requested during a rollout: one more rollout queued');
    } else {
      this.log.info({ running: this.activeRollout.generation }, 'reload requested: joins the rollout already queued');
    }
    return this.queuedRollout.promise;
  }

  /**
   * Drains every worker in parallel; SIGKILL at drainTimeoutMs + cleanupTimeoutMs + 1 s. `force` SIGKILLs at once
   * (a second signal). Resolves with the workers that were cut at their deadline.
   */
  stop(options: { force?: boolean; handedOver?: boolean } = {}): Promise<StopResult> {
    // After `zdt upgrade`: the workers drain for the upgrade, and the sockets stay with the new supervisor.
    if (options.handedOver) this.handedOver = true;
    if (options.force) {
      for (const handle of this.handles) void handle.kill('forced');
    }
    if (this.stopping) return this.stopping;
    if (this.currentState === 'idle') {
      this.setState('stopped');
      return Promise.resolve({ cuts: [] });
    }
    this.stopping = this.runStop(options.force === true);
    return this.stopping;
  }

  status(): SupervisorStatus {
    const now = Date.now();
    const workers = [...this.handles]
      .sort((a, b) => a.id - b.id || a.forkedAt - b.forkedAt)
      .map((handle) => ({
        id: handle.id,
        pid: handle.pid,
        generation: handle.generation,
        state: handle.state,
        uptimeMs: handle.uptimeMs,
        restarts: this.slots[handle.id - 1]?.restarts ?? 0,
        rssBytes: readRssBytes(handle.pid) ?? handle.reportedRssBytes,
        cpuSeconds: readCpuSeconds(handle.pid),
        loopDelayMs: handle.loopDelayMs,
        heartbeatAgeMs: handle.speaksProtocol && handle.state !== 'starting' ? now - handle.lastHeardAt : undefined,
      }));
    const crashLoop = this.slots
      .filter((slot) => slot.quickCrashes > 0 && !this.hasRecovered(slot))
      .map((slot) => ({
        workerId: slot.id,
        quickCrashes: slot.quickCrashes,
        nextRestartInMs: slot.nextRestartAt === undefined ? undefined : Math.max(0, slot.nextRestartAt - now),
        lastExit: slot.lastExit,
      }));
    const serving = servingBySlot(this.slots);
    const servingGenerations = new Set(serving.flatMap((worker) => (worker.generation === undefined ? [] : [worker.generation])));
    return {
      state: this.currentState,
      pid: process.pid,
      generation: this.generation,
      servingGeneration: this.lastGood?.generation ?? 0,
      serving,
      mixedGenerations: servingGenerations.size > 1,
      entry: this.options.entryPath,
      workersWanted: this.slots.length || this.options.workers,
      workers,
      crashLoop,
      rollout: this.activeRollout ? { generation: this.activeRollout.generation, queued: this.queuedRollout !== undefined } : null,
      lastRollout: this.lastRollout,
      metrics: this.metrics.snapshot(),
      listeners: this.sockets.info(),
    };
  }

  /** The listening sockets, with their descriptors: what `zdt upgrade` hands to the new supervisor. */
  listenerDescriptors(): ListenerInfo[] {
    return this.sockets.info();
  }

  /** The metrics endpoint's listening descriptor, when it is served. */
  get metricsDescriptor(): number | undefined {
    return this.metricsServer?.fd;
  }

  /**
   * The Prometheus text format: the supervisor's own metrics, then the app's prom-client metrics summed over the
   * ready workers (each asked over IPC, `timeoutMs` at most; a worker that does not answer in time is left out of
   * this scrape) plus what workers that exited had counted.
   */
  async metricsText(timeoutMs = 2_000): Promise<string> {
    const status = this.status();
    const live = await this.collectAppMetrics(timeoutMs);
    const families = this.metrics.families({
      generation: status.generation,
      servingGeneration: status.servingGeneration,
      mixedGenerations: status.mixedGenerations,
      workersWanted: status.workersWanted,
      workers: status.workers.map((worker) => ({ workerId: worker.id, ...worker })),
    });
    return render([...families, ...this.appMetrics.aggregate(live)]);
  }

  private collectAppMetrics(timeoutMs: number): Promise<AppMetric[][]> {
    const asked = [...this.handles].filter((handle) => handle.state === 'ready' && handle.speaksProtocol);
    if (asked.length === 0) return Promise.resolve([]);
    const requestId = ++this.collectSeq;
    return new Promise((resolve) => {
      const answers = new Map<WorkerHandle, AppMetric[] | null>();
      const finish = () => {
        clearTimeout(timer);
        this.collecting.delete(requestId);
        resolve([...answers.values()].filter((metrics): metrics is AppMetric[] => metrics !== null));
      };
      const timer = setTimeout(finish, timeoutMs);
      timer.unref();
      this.collecting.set(requestId, {
        answered: (handle, metrics) => {
          if (!asked.includes(handle)) return;
          answers.set(handle, metrics);
          if (answers.size === asked.length) finish();
        },
      });
      for (const handle of asked) handle.send({ zdt: 'collect', requestId });
    });
  }

  private hasRecovered(slot: Slot): boolean {
    const current = slot.current;
    return current !== undefined && current.state === 'ready' && current.uptimeMs >= this.options.minUptimeMs;
  }

  private forkWorker(id: number, release: Release): WorkerHandle {
    const options = this.options;
    const worker = launchWorker({ options, sockets: this.sockets, preload: this.preload }, id, release);
    const handle = new WorkerHandle(worker, id, release, options.readiness);
    this.handles.add(handle);
    const info = this.info(handle);
    handle.on('state', ({ to }) => {
      if (to !== 'ready') return;
      this.metrics.readyTime.observe(((handle.readyAt ?? Date.now()) - handle.forkedAt) / 1000);
      this.emit('ready', info);
    });
    handle.on('listening', (address) => {
      const where = address.port < 0 ? address.address : `${address.address}:${address.port}`;
      if (this.sockets.size > 0 && address.listener === undefined && !this.unmappedWarned.has(where)) {
        this.unmappedWarned.add(where);
        this.log.warn(
          { ...info, address },
          `worker ${id} listens on ${where} through node:cluster, not on a socket the supervisor owns: 'zdt upgrade' cannot hand that address over (give it with --listen)`,
        );
      }
      this.emit('listening', { workerId: id, pid: handle.pid, address });
    });
    handle.on('message', (message) => {
      const handler = this.messageHandlers[message.zdt] as ((handle: WorkerHandle, message: WorkerToPrimary) => void) | undefined;
      handler?.(handle, message);
    });
    handle.on('exit', (exit) => this.onWorkerExit(handle, exit));
    this.emit('fork', info);
    return handle;
  }

  private stepContext(): RolloutContext {
    return {
      fork: (slotId, release) => this.forkWorker(slotId, release),
      readyTimeoutMs: this.options.readyTimeoutMs,
      stopping: this.stopController.signal,
      slots: this.slots,
      batchSize: this.options.rolloutBatchSize,
      drain: (old) => old.stop('reload', this.options.killAfterMs),
      onProgress: () => {},
      onRollback: () => {},
    };
  }

  /** startFirst() with the supervisor's fork; the replaced worker is drained for `reason`. */
  private step(slot: Slot, release: Release, reason: ShutdownReason): Promise<StepResult> {
    return startFirst(slot, release, this.stepContext(), (old) => old.stop(reason, this.options.killAfterMs));
  }

  private onWorkerExit(handle: WorkerHandle, exit: WorkerExit): void {
    this.handles.delete(handle);
    // A worker that did not drain (a crash): what it had counted at the last scrape is kept.
    this.appMetrics.retire(handle.takeAppMetricsToRetire());
    if (exit.killedAtDeadline) this.metrics.killedAtDeadline.inc();
    const info = this.info(handle);
    this.emit('exit', { ...info, ...exit });
    const slot = this.slots[handle.id - 1];
    if (exit.expected) {
      const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
      const deadline = exit.killedAtDeadline ? ` at its kill deadline (${this.options.killAfterMs}ms): requests it still held were cut` : '';
      const log = exit.killedAtDeadline ? this.log.warn.bind(this.log) : this.log.info.bind(this.log);
      log({ ...info, code: exit.code, signal: exit.signal }, `worker ${handle.id} (pid ${handle.pid}) ${how} after stop (${exit.stopReason})${deadline}`);
    }
    if (!slot || slot.current !== handle) return;
    slot.current = undefined;
    if (this.currentState !== 'running') return;
    this.restarts.recordCrash(slot, handle, exit, describeExit(exit));
  }

  private beginRollout(): Promise<RolloutResult> {
    const generation = ++this.generation;
    const promise = this.slotChange(() => this.rollOut(generation)).finally(() => {
      this.activeRollout = undefined;
      const queued = this.queuedRollout;
      this.queuedRollout = undefined;
      if (!queued) return;
      if (this.currentState === 'running') this.beginRollout().then(queued.resolve, queued.reject);
      else queued.reject(new InvalidStateError('reload', this.currentState));
    });
    this.activeRollout = { generation, promise };
    return promise;
  }

  /** Runs `change` after the slot-list changes queued before it (rollouts, scale requests). */
  private slotChange<T>(change: () => Promise<T>): Promise<T> {
    const result = this.slotChanges.then(change);
    this.slotChanges = result.catch(() => undefined);
    return result;
  }

  private async rollOut(generation: number): Promise<RolloutResult> {
    const startedAt = Date.now();
    const previous = this.lastGood!;
    const update = this.pendingUpdate ?? {};
    this.pendingUpdate = undefined;
    const settings: ReleaseSettings = {
      env: update.env ?? this.settings.env,
      args: update.args ?? this.settings.args,
      execArgv: update.execArgv ?? this.settings.execArgv,
    };
    this.cancelRollbackRetry();
    // Fewer workers: drain the extra ones first, so the rollout replaces only what stays.
    const cuts: CutReport[] = [];
    if (update.workers !== undefined && update.workers < this.slots.length) {
      cuts.push(...(await this.removeSlots(this.slots.length - update.workers)).cuts);
    }
    // More workers: empty slots the rollout fills with the new generation, start-first like the others.
    const added = update.workers !== undefined && update.workers > this.slots.length ? this.addSlots(update.workers - this.slots.length) : [];
    const total = this.slots.length;
    this.emit('rollout:start', { generation, workers: total });
    const context: RolloutContext = {
      ...this.stepContext(),
      onProgress: ({ workerId, oldPid, newPid, done }) => {
        this.metrics.restarts.inc({ cause: 'reload' satisfies RestartCause });
        this.emit('rollout:progress', { generation, workerId, oldPid, newPid, done, total });
      },
      onRollback: ({ workerId, oldPid, newPid, toGeneration }) => {
        this.metrics.restarts.inc({ cause: 'rollback' satisfies RestartCause });
        this.emit('rollout:rollback', { generation, workerId, oldPid, newPid, toGeneration });
      },
    };

    let target: Release;
    try {
      target = resolveRelease(generation, this.options.cwd, this.options.entryPath, settings);
    } catch (error) {
      this.dropEmptySlots(added);
      return this.rolloutFailed(generation, startedAt, [], { reason: `could not be resolved: ${(error as Error).message}` }, this.noRollback(previous), cuts);
    }
    const report = await runRollout(target, previous, context);
    report.cuts.unshift(...cuts);
    if (!report.ok) {
      // The workers this reload added are not wanted after all: the worker count goes back with the code.
      const stillAdded = added.filter((slot) => this.slots.includes(slot));
      if (stillAdded.length > 0) report.cuts.push(...(await this.removeSlots(stillAdded.length)).cuts);
      report.rollback.serving = servingBySlot(this.slots);
      report.rollback.remaining = report.rollback.serving.filter((worker) => worker.generation === generation).length;
      report.rollback.complete = report.rollback.remaining === 0;
      return this.rolloutFailed(generation, startedAt, report.replaced, report.failure, report.rollback, report.cuts);
    }
    this.settings = settings;
    this.lastGood = target;
    const serving = servingBySlot(this.slots);
    const result: RolloutResult = { generation, replaced: report.replaced, durationMs: Date.now() - startedAt, cuts: report.cuts, serving };
    this.lastRollout = { generation, outcome: 'done', replaced: report.replaced, cuts: report.cuts, startedAt: new Date(startedAt).toISOString(), durationMs: result.durationMs };
    this.metrics.rollouts.inc({ outcome: 'done' });
    this.metrics.rolloutDuration.observe(result.durationMs / 1000);
    this.emit('rollout:done', result);
    return result;
  }

  /**
   * Adds or removes workers without touching the others: new slots get a worker of the serving generation,
   * start-first; removed slots (the highest ids) have their workers drained. Waits for a rollout under way.
   */
  scale(workers: number): Promise<ScaleResult> {
    if (this.currentState !== 'running') return Promise.reject(new InvalidStateError('scale', this.currentState));
    let wanted: number;
    try {
      wanted = resolveReloadUpdate({ workers }).workers!;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.slotChange(async () => {
      const before = this.slots.length;
      this.log.info({ from: before, to: wanted }, `scaling from ${before} to ${wanted} worker(s)`);
      if (wanted < before) {
        const { removed, cuts } = await this.removeSlots(before - wanted);
        return { workers: this.slots.length, added: [], removed, cuts };
      }
      const release = this.lastGood!;
      const slots = this.addSlots(wanted - before);
      const results = await Promise.all(slots.map((slot) => slot.exclusive(() => this.step(slot, release, 'scale'))));
      const failed = results.find((result) => !result.ok);
      if (failed && !failed.ok) {
        this.dropEmptySlots(slots);
        throw new ScaleFailedError(
          `Scaling to ${wanted} workers failed: new worker ${failed.candidate.id} (pid ${failed.candidate.pid}) ${describeNotReady(failed.failure)}; ${describeServing(servingBySlot(this.slots))}`,
          this.slots.length,
        );
      }
      this.metrics.restarts.inc({ cause: 'scale' satisfies RestartCause }, slots.length);
      this.log.info({ workers: this.slots.length }, `scaled to ${this.slots.length} worker(s)`);
      return { workers: this.slots.length, added: slots.map((slot) => slot.id), removed: [], cuts: [] };
    });
  }

  private addSlots(count: number): Slot[] {
    const added: Slot[] = [];
    for (let index = 0; index < count; index++) {
      const slot = new Slot(this.slots.length + 1);
      this.slots.push(slot);
      added.push(slot);
    }
    return added;
  }

  /** Removes trailing slots among `candidates` that have no worker (ids stay 1..N). */
  private dropEmptySlots(candidates: readonly Slot[]): void {
    for (;;) {
      const last = this.slots.at(-1);
      if (!last || !candidates.includes(last) || last.current) return;
      last.retired = true;
      last.cancelRestart();
      this.slots.pop();
    }
  }

  /** Removes the `count` highest slots and drains their workers. */
  private async removeSlots(count: number): Promise<{ removed: number[]; cuts: CutReport[] }> {
    const removed = this.slots.splice(this.slots.length - count, count);
    const retiring = await Promise.all(
      removed.map((slot) =>
        slot.exclusive(async () => {
          slot.retired = true;
          slot.cancelRestart();
          const handle = slot.current;
          slot.current = undefined;
          if (!handle) return undefined;
          this.log.info({ workerId: slot.id, pid: handle.pid }, `worker ${slot.id} (pid ${handle.pid}) removed: draining it`);
          return { handle, exit: await handle.stop('scale', this.options.killAfterMs) };
        }),
      ),
    );
    const cuts: CutReport[] = [];
    for (const item of retiring) {
      if (!item) continue;
      const cut = item.handle.drainOutcome?.cut;
      if (item.exit.killedAtDeadline || (cut ?? 0) > 0) {
        cuts.push({ workerId: item.handle.id, pid: item.handle.pid, generation: item.handle.generation, cut, killed: item.exit.killedAtDeadline });
      }
    }
    return { removed: removed.map((slot) => slot.id), cuts };
  }

  private noRollback(previous: Release): RollbackSummary {
    return { toGeneration: previous.generation, rolledBack: 0, remaining: 0, complete: true, serving: servingBySlot(this.slots) };
  }

  private rolloutFailed(
    generation: number,
    startedAt: number,
    replaced: ReplacedWorker[],
    failure: { workerId?: number; pid?: number; reason: string },
    rollback: RollbackSummary,
    cuts: CutReport[],
  ): never {
    const error = new RolloutFailedError({ generation, ...failure, rollback, outcome: this.describeRollback(rollback) });
    this.lastRollout = {
      generation,
      outcome: 'failed',
      replaced,
      reason: failure.workerId === undefined ? failure.reason : `worker ${failure.workerId} (pid ${failure.pid}) ${failure.reason}`,
      rollback,
      cuts,
      startedAt: new Date(startedAt).toISOString(),
      durationMs: Date.now() - startedAt,
    };
    this.metrics.rollouts.inc({ outcome: 'refused' });
    this.metrics.rolloutDuration.observe(this.lastRollout.durationMs / 1000);
    this.emit('rollout:failed', { generation, error });
    if (!rollback.complete && this.currentState === 'running') this.scheduleRollbackRetry(generation);
    throw error;
  }

  private describeRollback(rollback: RollbackSummary): string {
    const serving = describeServing(rollback.serving);
    if (this.currentState !== 'running') return `the supervisor is ${this.currentState}; ${serving}`;
    if (!rollback.complete) {
      return `rolled back ${rollback.rolledBack} worker(s) to generation ${rollback.toGeneration}, ${rollback.remaining} could not be yet: ${serving}; retrying the rollback with back-off`;
    }
    if (rollback.rolledBack === 0) return `nothing was replaced: ${serving}`;
    return `rolled back ${rollback.rolledBack} worker${rollback.rolledBack === 1 ? '' : 's'} to generation ${rollback.toGeneration}: ${serving}`;
  }

  /** A rollback that could not finish is tried again with back-off until it does, a new rollout starts, or stop. */
  private scheduleRollbackRetry(refusedGeneration: number): void {
    const attempts = (this.rollbackRetry?.attempts ?? 0) + 1;
    const delayMs = backoffDelay(this.options.backoff, attempts);
    this.log.warn({ refusedGeneration, attempts, delayMs }, `rollback of generation ${refusedGeneration} incomplete: retrying in ${delayMs}ms`);
    const timer = setTimeout(() => {
      void (async () => {
        const previous = this.lastGood;
        if (this.currentState !== 'running' || this.activeRollout || !previous) return;
        const summary = await rollBack(refusedGeneration, previous, {
          ...this.stepContext(),
          onRollback: ({ workerId, oldPid, newPid, toGeneration }) => {
            this.metrics.restarts.inc({ cause: 'rollback' satisfies RestartCause });
            this.emit('rollout:rollback', { generation: refusedGeneration, workerId, oldPid, newPid, toGeneration });
          },
        });
        if (this.lastRollout?.generation === refusedGeneration && this.lastRollout.rollback) {
          this.lastRollout.rollback = { ...summary, rolledBack: this.lastRollout.rollback.rolledBack + summary.rolledBack };
        }
        if (summary.complete) {
          this.rollbackRetry = undefined;
          this.log.info({ refusedGeneration }, `rollback of generation ${refusedGeneration} complete: ${describeServing(summary.serving)}`);
        } else if (this.currentState === 'running' && !this.activeRollout) {
          this.scheduleRollbackRetry(refusedGeneration);
        }
      })();
    }, delayMs);
    timer.unref();
    this.rollbackRetry = { timer, attempts };
  }

  private cancelRollbackRetry(): void {
    if (this.rollbackRetry) clearTimeout(this.rollbackRetry.timer);
    this.rollbackRetry = undefined;
  }

  private async runStop(force: boolean): Promise<StopResult> {
    this.setState('stopping');
    this.stopController.abort();
    this.monitor.stop();
    this.cancelRollbackRetry();
    for (const slot of this.slots) slot.cancelRestart();
    const { killAfterMs, drainTimeoutMs } = this.options;
    this.log.info({ workers: this.handles.size, drainTimeoutMs }, `stopping ${this.handles.size} worker(s)`);
    const cuts: CutReport[] = [];
    // A rollout or replacement may fork while the first drains are under way: repeat until nothing is left.
    while (this.handles.size > 0) {
      const handles = [...this.handles];
      const reason = this.handedOver ? 'upgrade' : 'stop';
      const exits = await Promise.all(handles.map((handle) => (force ? handle.kill('forced') : handle.stop(reason, killAfterMs))));
      handles.forEach((handle, index) => {
        const exit = exits[index]!;
        const cut = handle.drainOutcome?.cut;
        if (exit.killedAtDeadline || (cut ?? 0) > 0) {
          cuts.push({ workerId: handle.id, pid: handle.pid, generation: handle.generation, cut, killed: exit.killedAtDeadline });
        }
      });
    }
    await this.metricsServer?.close();
    // Handed over: the new supervisor has these sockets (and a Unix socket's file): only this process's copies close.
    if (this.handedOver) this.sockets.release();
    else this.sockets.close();
    this.setState('stopped');
    this.log.info('all workers stopped');
    return { cuts };
  }
}
