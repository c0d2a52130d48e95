/**
 * The supervisor: the one owner of every worker slot, restart timer and
 * rollout. Workers are forked with node:cluster so they share listening
 * sockets. Every worker enters its slot through the start-first step in
 * rollout/rollout.ts, so capacity never drops to zero for a deploy or a replacement.
 */
import { EventEmitter } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { EntryNotFoundError, InvalidStateError, StartFailedError } from '../errors.js';
import { resolveOptions, type ReloadUpdate, type ResolvedOptions, type SupervisorOptions } from '../options.js';
import type { ShutdownReason, WorkerToPrimary } from '../protocol.js';
import { AppMetricsAggregator } from './metrics/app-metrics.js';
import { render } from './metrics/exposition.js';
import { SupervisorMetrics } from './metrics/supervisor-metrics.js';
import { MetricsServer, type ListenAddress } from './metrics/server.js';
import { HealthMonitor } from './rollout/health-monitor.js';
import { ClusterSockets } from './sockets/cluster-sockets.js';
import { Listeners, type ListenerInfo } from './sockets/listeners.js';
import { resolveRelease, type Release } from './releases/release.js';
import { findPreload, launchWorker } from './workers/launch.js';
import { workerMessageHandlers, type MessageHandlers } from './worker-messages.js';
import { logEvents } from './event-log.js';
import { Restarts } from './rollout/restarts.js';
import { Deployments } from './rollout/deployments.js';
import { SlotTable } from './rollout/slot-table.js';
import { crashLoops, workerStatuses } from './status.js';
import { AppMetricsCollector } from './metrics/collection.js';
import { collectCuts, describeNotReady, servingBySlot, startFirst, type RolloutContext, type StepResult } from './rollout/rollout.js';
import { Slot } from './rollout/slot.js';
import { FinalCloseBarrier } from './sockets/final-close.js';
import { SocketIoSupport } from './sticky/index.js';
import { describeAddress, describeExit, WorkerHandle, type WorkerExit } from './workers/handle.js';
import type { CutReport, RolloutResult, ScaleResult, StopResult, SupervisorEvents, SupervisorState, SupervisorStatus, WorkerInfo } from './supervisor-types.js';

export type { CrashLoopStatus, CutReport, ReplacedWorker, RolloutOutcome, RolloutResult, ScaleResult, StopResult, SupervisorEvents, SupervisorState, SupervisorStatus, WorkerStatus } from './supervisor-types.js';

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly options: ResolvedOptions;
  private currentState: SupervisorState = 'idle';
  /** The slots (ids 1..N) and the queue that changes them one at a time (rollout/slot-table.ts). */
  private readonly table = new SlotTable();
  private readonly slots = this.table.slots;
  /** Every live worker process: slot owners, candidates and workers being retired. */
  private readonly handles = new Set<WorkerHandle>();
  private readonly monitor: HealthMonitor;
  private readonly stopController = new AbortController();
  private stopping: Promise<StopResult> | undefined;
  private readonly preload = findPreload();
  /** What deploys did, kept by the supervisor across every worker. */
  private readonly metrics = new SupervisorMetrics();
  readonly appMetrics = new AppMetricsAggregator((worker) => this.collector.gone(worker as WorkerHandle));
  private metricsServer: MetricsServer | undefined;
  private metricsBound: ListenAddress | undefined;
  /** Sockets the supervisor owns and hands to every worker; none unless `listen` is set. */
  private sockets = Listeners.none();
  private readonly clusterSockets = new ClusterSockets();
  /** Addresses already warned about: listened on through node:cluster while the supervisor owns sockets. */
  private readonly unmappedWarned = new Set<string>();
  private handedOver = false;
  /** Scrapes waiting for the workers' own prom-client metrics. */
  private readonly collector = new AppMetricsCollector();
  /** At a stop: when the workers may answer what they held while closing the shared sockets (sockets/final-close.ts). */
  private finalClose: FinalCloseBarrier | undefined;
  /** Every message a worker may send, handled in one place (worker-messages.ts); unknown verbs are ignored. */
  private readonly messageHandlers: MessageHandlers;
  /** Crash restarts with back-off, and start-first replacements (rollout/restarts.ts). */
  private readonly restarts: Restarts;
  /** Rollouts, the reload queue, rollback retries and scale requests (rollout/deployments.ts). */
  private readonly deployments: Deployments;

  constructor(options: SupervisorOptions) {
    super();
    this.options = resolveOptions(options);
    // @socket.io/cluster-adapter's relay (its setupPrimary()) and sticky routing: it follows this supervisor's events.
    new SocketIoSupport(this, () => this.options.sticky, () => this.handles, () => this.log);
    this.messageHandlers = workerMessageHandlers({
      options: this.options,
      log: () => this.log,
      metrics: this.metrics,
      appMetrics: this.appMetrics,
      collector: this.collector,
      canaryCounted: (window, handle, counts) => this.deployments.canary.answered(window, handle, counts),
      info: (handle) => this.info(handle),
      askedToBeReplaced: (handle, reason) => {
        this.emit('replace', { ...this.info(handle), reason });
        const slot = this.slots[handle.id - 1];
        if (slot) this.restarts.replace(slot, handle, 'replace');
      },
      listeningClosed: (handle) => this.finalClose?.listeningClosed(handle),
    });
    const { entry, entryPath } = this.options;
    if (!existsSync(entryPath) || !statSync(entryPath).isFile()) throw new EntryNotFoundError(entry, entryPath);
    const { heartbeatIntervalMs, heartbeatTimeoutMs, maxMemoryBytes, monitorIntervalMs } = this.options;
    logEvents(this, this.options);
    this.deployments = new Deployments(
      {
        options: this.options,
        metrics: this.metrics,
        log: () => this.log,
        state: () => this.currentState,
        emit: (event, ...args) => void (this.emit as (event: string, ...args: unknown[]) => boolean)(event, ...args),
        stepContext: () => this.stepContext(),
        step: (slot, release, reason) => this.step(slot, release, reason),
      },
      this.table,
    );
    this.restarts = new Restarts({
      options: this.options,
      metrics: this.metrics,
      log: () => this.log,
      state: () => this.currentState,
      lastGood: () => this.deployments.lastGood,
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

  /** The last release whose every worker became ready: what serves, and what restarts and rollbacks fork. */
  get servingRelease(): Release | undefined {
    return this.deployments.lastGood;
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
    if (!this.options.fork) this.clusterSockets.watch();
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
        this.metricsServer = new MetricsServer(() => this.metricsText());
        this.metricsBound = await this.metricsServer.open(this.options.metrics, this.options.metricsFd, this.log);
      }
      const release = resolveRelease(0, cwd, entryPath, this.deployments.settings);
      const results = await Promise.all(this.slots.map((slot) => slot.exclusive(() => this.step(slot, release, 'stop'))));
      const failed = results.find((result) => !result.ok);
      if (failed && !failed.ok) throw new Error(`worker ${failed.candidate.id} (pid ${failed.candidate.pid}) ${describeNotReady(failed.failure)}`);
      const lost = this.slots.find((slot) => !slot.current?.isAlive);
      if (lost) throw new Error(`worker ${lost.id} exited right after it was ready`);
      // stop() may have run while we awaited.
      const state = this.currentState as SupervisorState;
      if (state !== 'starting') throw new Error(`the supervisor is ${state}`);
      this.deployments.lastGood = release;
    } catch (error) {
      const failed = this.slots.find((slot) => !slot.current || slot.current.state !== 'ready');
      const reason = error instanceof Error ? error.message : String(error);
      this.log.error({ reason }, `start failed: ${reason}; stopping the workers that did start`);
      await this.stop();
      throw new StartFailedError(`Start failed: ${reason}; every worker was stopped`, failed?.id, { cause: error });
    }
    this.setState('running');
    this.monitor.start();
    this.log.info({ workers, generation: this.deployments.generation }, 'all workers ready');
  }

  /**
   * Replaces every worker start-first with a fork of the code now on disk. Concurrency rule: a reload while a rollout
   * runs queues exactly one more rollout; every further request joins that queued one (it will fork the newest code
   * anyway).
   */
  reload(update?: ReloadUpdate): Promise<RolloutResult> {
    return this.deployments.reload(update);
  }

  /**
   * Adds or removes workers without touching the others: new slots get a worker of the serving generation,
   * start-first; removed slots (the highest ids) have their workers drained. Waits for a rollout under way.
   */
  scale(workers: number): Promise<ScaleResult> {
    return this.deployments.scale(workers);
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
    const workers = workerStatuses(this.handles, this.slots, now);
    const crashLoop = crashLoops(this.slots, this.options.minUptimeMs, now);
    const serving = servingBySlot(this.slots);
    const servingGenerations = new Set(serving.flatMap((worker) => (worker.generation === undefined ? [] : [worker.generation])));
    return {
      state: this.currentState,
      pid: process.pid,
      generation: this.deployments.generation,
      servingGeneration: this.deployments.lastGood?.generation ?? 0,
      serving,
      mixedGenerations: servingGenerations.size > 1,
      entry: this.options.entryPath,
      workersWanted: this.slots.length || this.options.workers,
      workers,
      crashLoop,
      rollout: this.deployments.rolloutStatus(),
      lastRollout: this.deployments.lastRollout,
      canary: this.deployments.canary.progress,
      lastCanary: this.deployments.canary.last,
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
   * workers (metrics/app-metrics.ts: each asked, `timeoutMs` at most, else counted at its last known values).
   */
  async metricsText(timeoutMs = 2_000): Promise<string> {
    await this.appMetrics.served();
    const status = this.status();
    await this.collector.collect(this.handles, (handle) => this.appMetrics.isLive(handle), timeoutMs);
    const families = this.metrics.families({
      generation: status.generation,
      servingGeneration: status.servingGeneration,
      mixedGenerations: status.mixedGenerations,
      workersWanted: status.workersWanted,
      workers: status.workers.map((worker) => ({ workerId: worker.id, ...worker })),
      canaryInProgress: status.canary !== null,
    });
    return render([...families, ...this.appMetrics.aggregate()]);
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
      const where = describeAddress(address);
      if (this.sockets.size > 0 && address.listener === undefined && !this.unmappedWarned.has(where)) {
        this.unmappedWarned.add(where);
        this.log.warn(
          { ...info, address },
          `worker ${id} listens on ${where} through node:cluster, not on a socket the supervisor owns: 'zdt upgrade' cannot hand that address over (give it with --listen)`,
        );
      }
      this.emit('listening', { workerId: id, pid: handle.pid, address });
    });
    handle.on('message', (message) => (this.messageHandlers[message.zdt] as ((handle: WorkerHandle, message: WorkerToPrimary) => void) | undefined)?.(handle, message));
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
    // A worker that did not drain (a crash, a SIGKILL): what it last reported is carried on.
    this.appMetrics.retire(handle);
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

  private async runStop(force: boolean): Promise<StopResult> {
    this.setState('stopping');
    this.stopController.abort();
    this.monitor.stop();
    this.deployments.cancelRollbackRetry();
    for (const slot of this.slots) slot.cancelRestart();
    const { killAfterMs, drainTimeoutMs } = this.options;
    this.log.info({ workers: this.handles.size, drainTimeoutMs }, `stopping ${this.handles.size} worker(s)`);
    const cuts: CutReport[] = [];
    // Its own copies of the sockets close first: held to the end they would queue connections no worker accepts.
    if (this.handedOver) this.sockets.release();
    else this.sockets.close();
    this.clusterSockets.closeOwnCopies();
    // A rollout or replacement may fork while the first drains are under way: repeat until nothing is left.
    while (this.handles.size > 0) {
      const handles = [...this.handles];
      const reason = this.handedOver ? 'upgrade' : 'stop';
      const barrier = (this.finalClose = new FinalCloseBarrier(handles.filter((handle) => handle.speaksProtocol), (handle) => handle.send({ zdt: 'release-held' })));
      const exit = (handle: WorkerHandle) => (force ? handle.kill('forced') : handle.stop(reason, killAfterMs)).finally(() => barrier.gone(handle));
      cuts.push(...(await collectCuts(handles.map((handle) => ({ handle, exit: exit(handle) })))));
    }
    await this.metricsServer?.close();
    this.clusterSockets.unwatch();
    this.setState('stopped');
    this.log.info('all workers stopped');
    return { cuts };
  }
}
