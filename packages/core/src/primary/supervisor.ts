/**
 * The supervisor: the one owner of every worker slot, back-off timer and
 * rollout. Workers are forked with node:cluster so they share listening
 * sockets; a replacement is always started and ready before the worker it
 * replaces is told to stop, so capacity never drops to zero.
 */
import cluster from 'node:cluster';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, statSync } from 'node:fs';
import {
  EntryNotFoundError,
  InvalidStateError,
  RolloutFailedError,
  StartFailedError,
} from '../errors.js';
import { resolveOptions, type ResolvedOptions, type SupervisorOptions } from '../options.js';
import { WORKER_ENV, type ShutdownReason, type WorkerToPrimary } from '../protocol.js';
import { WorkerHandle, type ListeningAddress, type WorkerExit, type WorkerState } from './worker-handle.js';

export type SupervisorState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface ReplacedWorker {
  workerId: number;
  /** Undefined when the slot had no live worker (it was backing off after crashes). */
  oldPid: number | undefined;
  newPid: number;
}

export interface RolloutResult {
  generation: number;
  replaced: ReplacedWorker[];
  durationMs: number;
}

export interface RolloutOutcome {
  generation: number;
  outcome: 'done' | 'failed';
  replaced: ReplacedWorker[];
  /** Why it failed (which worker and what happened). */
  reason?: string;
  startedAt: string;
  durationMs: number;
}

export interface WorkerStatus {
  id: number;
  pid: number;
  generation: number;
  state: WorkerState;
  uptimeMs: number;
  /** Times this worker slot was re-forked after a crash, hang, memory limit or replace request. */
  restarts: number;
  rssBytes: number | undefined;
}

/** A slot whose workers keep exiting quickly: restarts are backing off, like Kubernetes' CrashLoopBackOff. */
export interface CrashLoopStatus {
  workerId: number;
  quickCrashes: number;
  /** Set while the next restart is scheduled. */
  nextRestartInMs: number | undefined;
  lastExit: { code: number | null; signal: string | null; uptimeMs: number } | undefined;
}

export interface SupervisorStatus {
  state: SupervisorState;
  pid: number;
  /** The newest release generation started (0 at start, +1 per rollout). */
  generation: number;
  entry: string;
  workersWanted: number;
  workers: WorkerStatus[];
  crashLoop: CrashLoopStatus[];
  rollout: { generation: number; queued: boolean } | null;
  lastRollout: RolloutOutcome | null;
}

interface WorkerInfo {
  workerId: number;
  pid: number;
  generation: number;
}

export interface SupervisorEvents {
  state: [{ from: SupervisorState; to: SupervisorState }];
  fork: [WorkerInfo];
  ready: [WorkerInfo];
  listening: [{ workerId: number; pid: number; address: ListeningAddress }];
  exit: [WorkerInfo & WorkerExit];
  crash: [WorkerInfo & { code: number | null; signal: string | null; uptimeMs: number; quickCrashes: number; restartInMs: number; crashLoop: boolean }];
  'rollout:start': [{ generation: number; workers: number }];
  'rollout:progress': [{ generation: number; workerId: number; oldPid: number | undefined; newPid: number; done: number; total: number }];
  'rollout:done': [RolloutResult];
  'rollout:failed': [{ generation: number; error: RolloutFailedError }];
  hung: [WorkerInfo & { silentForMs: number }];
  memory: [WorkerInfo & { rssBytes: number; limitBytes: number }];
  replace: [WorkerInfo & { reason: string }];
}

interface Slot {
  id: number;
  current: WorkerHandle | undefined;
  restarts: number;
  quickCrashes: number;
  restartTimer: NodeJS.Timeout | undefined;
  nextRestartAt: number | undefined;
  lastExit: CrashLoopStatus['lastExit'];
  /** A single-worker replacement (hung, memory, replace request) in flight. */
  replacing: Promise<void> | undefined;
}

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

/** A slot with this many quick crashes in a row is reported as crash-looping. */
const CRASH_LOOP_THRESHOLD = 2;

/** Kill reason of a worker that did not become ready in time; recognised again when it exits. */
const NOT_READY = 'not ready within';

function describeExit(exit: WorkerExit): string {
  if (exit.stopReason?.startsWith(NOT_READY)) return `was ${exit.stopReason} (killed)`;
  if (exit.expected) return `was stopped (${exit.stopReason}${exit.signal ? `, ${exit.signal}` : ''})`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** RSS from /proc (works for any app); undefined where /proc is missing. */
function readRssBytes(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly options: ResolvedOptions;
  private currentState: SupervisorState = 'idle';
  private generation = 0;
  private readonly slots: Slot[] = [];
  /** Every live worker process: slot owners, rollout candidates and workers being retired. */
  private readonly handles = new Set<WorkerHandle>();
  private activeRollout: { generation: number; promise: Promise<RolloutResult> } | undefined;
  private queuedRollout: Deferred<RolloutResult> | undefined;
  private lastRollout: RolloutOutcome | null = null;
  private monitorTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: SupervisorOptions) {
    super();
    this.options = resolveOptions(options);
    const { entry, entryPath } = this.options;
    if (!existsSync(entryPath) || !statSync(entryPath).isFile()) throw new EntryNotFoundError(entry, entryPath);
  }

  get state(): SupervisorState {
    return this.currentState;
  }

  private get log() {
    return this.options.logger;
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
    const { workers, entryPath } = this.options;
    this.log.info({ entry: entryPath, workers, pid: process.pid }, `starting ${workers} worker${workers === 1 ? '' : 's'} of ${entryPath}`);
    for (let id = 1; id <= workers; id++) {
      this.slots.push({
        id,
        current: undefined,
        restarts: 0,
        quickCrashes: 0,
        restartTimer: undefined,
        nextRestartAt: undefined,
        lastExit: undefined,
        replacing: undefined,
      });
    }
    try {
      const started = this.slots.map((slot) => (slot.current = this.forkWorker(slot.id, this.generation)));
      await Promise.all(
        started.map((handle) =>
          this.waitReady(handle).catch((error: Error) => {
            throw new Error(`worker ${handle.id} (pid ${handle.pid}) ${error.message}`);
          }),
        ),
      );
      const lost = this.slots.find((slot) => !slot.current?.isAlive);
      if (lost) throw new Error(`worker ${lost.id} exited right after it was ready`);
      // stop() may have run while we awaited.
      const state = this.currentState as SupervisorState;
      if (state !== 'starting') throw new Error(`the supervisor is ${state}`);
    } catch (error) {
      const failed = this.slots.find((slot) => !slot.current || slot.current.state !== 'ready');
      const reason = error instanceof Error ? error.message : String(error);
      this.log.error({ reason }, `start failed: ${reason}; stopping the workers that did start`);
      await this.stop();
      throw new StartFailedError(`Start failed: ${reason}; every worker was stopped`, failed?.id, { cause: error });
    }
    this.setState('running');
    if (this.options.monitorIntervalMs > 0) {
      this.monitorTimer = setInterval(() => this.monitor(), this.options.monitorIntervalMs);
      this.monitorTimer.unref();
    }
    this.log.info({ workers, generation: this.generation }, 'all workers ready');
  }

  /**
   * Replaces every worker start-first with a fork of the code now on disk.
   * Concurrency rule: a reload while a rollout runs queues exactly one more
   * rollout; every further request joins that queued one (it will fork the
   * newest code anyway).
   */
  reload(): Promise<RolloutResult> {
    if (this.currentState !== 'running') return Promise.reject(new InvalidStateError('reload', this.currentState));
    if (!this.activeRollout) return this.beginRollout();
    if (!this.queuedRollout) {
      this.queuedRollout = deferred();
      this.log.info({ running: this.activeRollout.generation }, 'reload requested during a rollout: one more rollout queued');
    } else {
      this.log.info({ running: this.activeRollout.generation }, 'reload requested: joins the rollout already queued');
    }
    return this.queuedRollout.promise;
  }

  /** Drains every worker in parallel; SIGKILL at drainTimeoutMs. `force` SIGKILLs at once (a second signal). */
  stop(options: { force?: boolean } = {}): Promise<void> {
    if (options.force) {
      for (const handle of this.handles) void handle.kill('forced stop');
    }
    if (this.stopping) return this.stopping;
    if (this.currentState === 'idle') {
      this.setState('stopped');
      return Promise.resolve();
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
      }));
    const crashLoop = this.slots
      .filter((slot) => slot.quickCrashes > 0 && !this.hasRecovered(slot))
      .map((slot) => ({
        workerId: slot.id,
        quickCrashes: slot.quickCrashes,
        nextRestartInMs: slot.nextRestartAt === undefined ? undefined : Math.max(0, slot.nextRestartAt - now),
        lastExit: slot.lastExit,
      }));
    return {
      state: this.currentState,
      pid: process.pid,
      generation: this.generation,
      entry: this.options.entryPath,
      workersWanted: this.options.workers,
      workers,
      crashLoop,
      rollout: this.activeRollout ? { generation: this.activeRollout.generation, queued: this.queuedRollout !== undefined } : null,
      lastRollout: this.lastRollout,
    };
  }

  private hasRecovered(slot: Slot): boolean {
    const current = slot.current;
    return current !== undefined && current.state === 'ready' && current.uptimeMs >= this.options.minUptimeMs;
  }

  private forkWorker(id: number, generation: number): WorkerHandle {
    const options = this.options;
    const env: Record<string, string> = {
      ...options.env,
      [WORKER_ENV.supervised]: '1',
      [WORKER_ENV.workerId]: String(id),
      [WORKER_ENV.generation]: String(generation),
      [WORKER_ENV.readiness]: options.readiness,
      [WORKER_ENV.drainTimeoutMs]: String(options.drainTimeoutMs),
      [WORKER_ENV.heartbeatIntervalMs]: String(options.heartbeatIntervalMs),
    };
    const settings = {
      exec: options.entryPath,
      args: options.args,
      execArgv: options.execArgv,
      cwd: options.cwd,
      silent: options.silent,
    };
    let worker;
    if (options.fork) {
      worker = options.fork({ ...settings, env });
    } else {
      // Set on every fork, never cached: a deploy that replaced the files or switched a symlink is picked up here.
      cluster.setupPrimary(settings);
      worker = cluster.fork(env);
    }
    if (options.silent) {
      worker.process.stdout?.resume();
      worker.process.stderr?.resume();
    }
    const handle = new WorkerHandle(worker, id, generation, options.readiness);
    this.handles.add(handle);
    const info = { workerId: id, pid: handle.pid, generation };

    const readyTimer = setTimeout(() => {
      if (handle.state !== 'starting') return;
      this.log.warn(info, `worker ${id} (pid ${handle.pid}) not ready within ${options.readyTimeoutMs}ms; killing it`);
      void handle.kill(`${NOT_READY} ${options.readyTimeoutMs}ms`);
    }, options.readyTimeoutMs);
    readyTimer.unref();

    handle.on('state', ({ to }) => {
      if (to !== 'ready') {
        if (to !== 'starting') clearTimeout(readyTimer);
        return;
      }
      clearTimeout(readyTimer);
      // Pings sent during a long boot went unanswered legitimately; the hang clock starts at ready.
      handle.lastPongAt = Date.now();
      this.log.info(info, `worker ${id} (pid ${handle.pid}) ready, generation ${generation}`);
      this.emit('ready', info);
    });
    handle.on('listening', (address) => {
      this.log.info({ ...info, address }, `worker ${id} (pid ${handle.pid}) listening on ${address.address}:${address.port}`);
      this.emit('listening', { workerId: id, pid: handle.pid, address });
    });
    handle.on('message', (message) => this.onWorkerMessage(handle, message));
    handle.on('exit', (exit) => this.onWorkerExit(handle, exit));
    this.log.info(info, `worker ${id} forked (pid ${handle.pid}, generation ${generation})`);
    this.emit('fork', info);
    return handle;
  }

  /** Resolves when the worker is ready; rejects (with the reason) when it exits first. */
  private waitReady(handle: WorkerHandle): Promise<void> {
    return new Promise((resolve, reject) => {
      if (handle.state === 'ready') return resolve();
      if (handle.state !== 'starting') return reject(new Error(`worker ${handle.id} (pid ${handle.pid}) is ${handle.state}`));
      const onState = ({ to }: { to: WorkerState }) => {
        if (to !== 'ready') return;
        handle.off('exit', onExit);
        handle.off('state', onState);
        resolve();
      };
      const onExit = (exit: WorkerExit) => {
        handle.off('state', onState);
        const description = describeExit(exit);
        reject(new Error(exit.stopReason?.startsWith(NOT_READY) ? description : `${description} before it was ready`));
      };
      handle.on('state', onState);
      handle.once('exit', onExit);
    });
  }

  private onWorkerMessage(handle: WorkerHandle, message: WorkerToPrimary): void {
    const info = { workerId: handle.id, pid: handle.pid, generation: handle.generation };
    switch (message.zdt) {
      case 'replace': {
        this.log.warn({ ...info, reason: message.reason }, `worker ${handle.id} asked to be replaced`);
        this.emit('replace', { ...info, reason: message.reason });
        const slot = this.slots[handle.id - 1];
        if (slot && slot.current === handle) this.replaceWorker(slot, handle, 'replace');
        break;
      }
      case 'draining':
        this.log.debug({ ...info, reason: message.reason }, `worker ${handle.id} draining`);
        break;
      case 'drained':
        this.log.debug({ ...info, clean: message.clean, cut: message.cut }, `worker ${handle.id} drained`);
        break;
      default:
        break;
    }
  }

  private onWorkerExit(handle: WorkerHandle, exit: WorkerExit): void {
    this.handles.delete(handle);
    const info = { workerId: handle.id, pid: handle.pid, generation: handle.generation };
    this.emit('exit', { ...info, ...exit });
    const slot = this.slots[handle.id - 1];
    const ownsSlot = slot !== undefined && slot.current === handle;
    if (exit.expected) {
      const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
      this.log.info({ ...info, code: exit.code, signal: exit.signal }, `worker ${handle.id} (pid ${handle.pid}) ${how} after stop (${exit.stopReason})`);
    }
    if (!slot || !ownsSlot) return;
    slot.current = undefined;
    if (this.currentState !== 'running') return;

    const quick = handle.readyAt === undefined || exit.uptimeMs < this.options.minUptimeMs;
    slot.quickCrashes = quick ? slot.quickCrashes + 1 : 0;
    slot.lastExit = { code: exit.code, signal: exit.signal, uptimeMs: exit.uptimeMs };
    const delayMs = quick ? this.backoffDelay(slot.quickCrashes) : 0;
    const crashLoop = slot.quickCrashes >= CRASH_LOOP_THRESHOLD;
    if (!exit.expected) {
      this.emit('crash', { ...info, code: exit.code, signal: exit.signal, uptimeMs: exit.uptimeMs, quickCrashes: slot.quickCrashes, restartInMs: delayMs, crashLoop });
    }
    const what = exit.expected ? describeExit(exit) : `crashed: ${describeExit(exit)}`;
    const details = { ...info, code: exit.code, signal: exit.signal, uptimeMs: exit.uptimeMs, quickCrashes: slot.quickCrashes, restartInMs: delayMs };
    if (crashLoop) {
      this.log.error(details, `worker ${handle.id} (pid ${handle.pid}) ${what} after ${exit.uptimeMs}ms; CrashLoopBackOff: ${slot.quickCrashes} quick crashes in a row, restarting in ${delayMs}ms (never gives up)`);
    } else {
      this.log.warn(details, `worker ${handle.id} (pid ${handle.pid}) ${what} after ${exit.uptimeMs}ms; restarting in ${delayMs}ms`);
    }
    this.scheduleRestart(slot, delayMs);
  }

  private backoffDelay(quickCrashes: number): number {
    const { initialMs, maxMs, multiplier, jitter } = this.options.backoff;
    const base = Math.min(maxMs, initialMs * multiplier ** (quickCrashes - 1));
    const spread = 1 + jitter * (2 * Math.random() - 1);
    return Math.max(0, Math.round(Math.min(maxMs, base * spread)));
  }

  private scheduleRestart(slot: Slot, delayMs: number): void {
    clearTimeout(slot.restartTimer);
    slot.nextRestartAt = Date.now() + delayMs;
    // Not unref'd: when every worker is down, this timer is what keeps the supervisor alive to bring them back.
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      slot.nextRestartAt = undefined;
      if (this.currentState !== 'running' || slot.current) return;
      slot.restarts++;
      slot.current = this.forkWorker(slot.id, this.generation);
    }, delayMs);
  }

  private beginRollout(): Promise<RolloutResult> {
    const generation = ++this.generation;
    const promise = this.runRollout(generation).finally(() => {
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

  /** One serial loop: per batch fork, wait for ready (or fail and keep the old), then retire the old. */
  private async runRollout(generation: number): Promise<RolloutResult> {
    const startedAt = Date.now();
    const replaced: ReplacedWorker[] = [];
    const retired: Promise<WorkerExit>[] = [];
    const total = this.slots.length;
    const batchSize = this.options.rolloutBatchSize;
    this.log.info({ generation, workers: total, batchSize }, `rollout of generation ${generation} started`);
    this.emit('rollout:start', { generation, workers: total });
    try {
      for (let index = 0; index < total; index += batchSize) {
        const batch = this.slots.slice(index, index + batchSize);
        await Promise.all(batch.map((slot) => slot.replacing));
        if (this.currentState !== 'running') {
          throw new RolloutFailedError({ generation, reason: `was stopped because the supervisor is ${this.currentState}` });
        }
        const candidates = batch
          .filter((slot) => !(slot.current && slot.current.generation >= generation && slot.current.state === 'ready'))
          .map((slot) => ({ slot, handle: this.forkWorker(slot.id, generation) }));
        const results = await Promise.allSettled(candidates.map(({ handle }) => this.waitReady(handle)));
        const failedIndex = results.findIndex(
          (result, position) => result.status === 'rejected' || !candidates[position]?.handle.isAlive,
        );
        if (failedIndex >= 0 || this.currentState !== 'running') {
          for (const { handle } of candidates) {
            // A candidate that became ready may already hold routed connections: drain it rather than kill it.
            if (handle.state === 'ready') void handle.stop('reload', this.options.drainTimeoutMs);
            else void handle.kill('rollout failed');
          }
          const failed = candidates[failedIndex];
          const result = results[failedIndex];
          const reason =
            result === undefined
              ? `was stopped because the supervisor is ${this.currentState}`
              : result.status === 'rejected'
                ? (result.reason as Error).message
                : 'exited after it was ready, before it took over';
          throw new RolloutFailedError({ generation, workerId: failed?.slot.id, pid: failed?.handle.pid, reason });
        }
        for (const { slot, handle } of candidates) {
          const old = slot.current;
          clearTimeout(slot.restartTimer);
          slot.restartTimer = undefined;
          slot.nextRestartAt = undefined;
          slot.quickCrashes = 0;
          slot.current = handle;
          if (old) retired.push(old.stop('reload', this.options.drainTimeoutMs));
          replaced.push({ workerId: slot.id, oldPid: old?.pid, newPid: handle.pid });
          this.log.info({ generation, workerId: slot.id, oldPid: old?.pid, newPid: handle.pid }, `worker ${slot.id}: ${old?.pid ?? '(none)'} -> ${handle.pid}`);
          this.emit('rollout:progress', { generation, workerId: slot.id, oldPid: old?.pid, newPid: handle.pid, done: replaced.length, total });
        }
      }
      await Promise.all(retired);
    } catch (error) {
      const failure =
        error instanceof RolloutFailedError
          ? error
          : new RolloutFailedError({ generation, reason: error instanceof Error ? error.message : String(error) }, { cause: error });
      this.lastRollout = {
        generation,
        outcome: 'failed',
        replaced,
        reason: failure.workerId === undefined ? failure.reason : `worker ${failure.workerId} (pid ${failure.pid}) ${failure.reason}`,
        startedAt: new Date(startedAt).toISOString(),
        durationMs: Date.now() - startedAt,
      };
      this.log.error({ generation, workerId: failure.workerId, pid: failure.pid, reason: failure.reason }, failure.message);
      this.emit('rollout:failed', { generation, error: failure });
      throw failure;
    }
    const result: RolloutResult = { generation, replaced, durationMs: Date.now() - startedAt };
    this.lastRollout = { generation, outcome: 'done', replaced, startedAt: new Date(startedAt).toISOString(), durationMs: result.durationMs };
    this.log.info({ generation, replaced: replaced.length }, `rollout of generation ${generation} done: ${replaced.length} worker(s) replaced`);
    this.emit('rollout:done', result);
    return result;
  }

  /** Start-first replacement of one worker (hung, over its memory limit, or asking for it). */
  private replaceWorker(slot: Slot, old: WorkerHandle, reason: Extract<ShutdownReason, 'hung' | 'memory' | 'replace'>): void {
    if (slot.replacing || this.currentState !== 'running' || slot.current !== old || old.state !== 'ready') return;
    const retire = () => (reason === 'hung' ? old.kill('hung') : old.stop(reason, this.options.drainTimeoutMs));
    const replacement = async () => {
      const candidate = this.forkWorker(slot.id, this.generation);
      try {
        await this.waitReady(candidate);
      } catch (error) {
        this.log.error(
          { workerId: slot.id, pid: old.pid, reason: (error as Error).message },
          `could not replace worker ${slot.id} (${reason}): the new worker ${(error as Error).message}`,
        );
        // A hung worker serves nothing and one that asked to go is broken: stop it anyway, the crash path restarts it.
        // One over its memory limit still serves: keep it and try again at the next check.
        if (reason !== 'memory') void retire();
        return;
      }
      if (this.currentState !== 'running' || !candidate.isAlive || (slot.current !== old && slot.current !== undefined)) {
        void candidate.stop('replace', this.options.drainTimeoutMs);
        return;
      }
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      slot.nextRestartAt = undefined;
      slot.current = candidate;
      slot.restarts++;
      this.log.info({ workerId: slot.id, oldPid: old.pid, newPid: candidate.pid, reason }, `worker ${slot.id} replaced (${reason}): ${old.pid} -> ${candidate.pid}`);
      void retire();
    };
    slot.replacing = replacement()
      .catch((error: unknown) => {
        this.log.error({ workerId: slot.id, reason }, `replacing worker ${slot.id} (${reason}) failed: ${(error as Error).message}`);
      })
      .finally(() => {
        slot.replacing = undefined;
      });
  }

  /** Heartbeat and memory check, one pass over the slot owners. */
  private monitor(): void {
    if (this.currentState !== 'running') return;
    const { heartbeatIntervalMs, heartbeatTimeoutMs, maxMemoryBytes } = this.options;
    const now = Date.now();
    for (const handle of this.handles) {
      if (heartbeatIntervalMs > 0 && handle.speaksProtocol && handle.state === 'starting') {
        handle.send({ zdt: 'ping', seq: ++handle.lastPingSeq });
      }
    }
    for (const slot of this.slots) {
      const handle = slot.current;
      if (!handle || handle.state !== 'ready' || slot.replacing) continue;
      const info = { workerId: handle.id, pid: handle.pid, generation: handle.generation };
      if (heartbeatIntervalMs > 0 && handle.speaksProtocol) {
        const silentForMs = now - handle.lastPongAt;
        if (silentForMs > heartbeatTimeoutMs) {
          this.log.error({ ...info, silentForMs }, `worker ${handle.id} (pid ${handle.pid}) hung: no heartbeat for ${silentForMs}ms; replacing it, then killing it`);
          this.emit('hung', { ...info, silentForMs });
          this.replaceWorker(slot, handle, 'hung');
          continue;
        }
        handle.send({ zdt: 'ping', seq: ++handle.lastPingSeq });
      }
      if (maxMemoryBytes > 0) {
        const rssBytes = readRssBytes(handle.pid) ?? handle.reportedRssBytes;
        if (rssBytes !== undefined && rssBytes > maxMemoryBytes) {
          this.log.warn({ ...info, rssBytes, limitBytes: maxMemoryBytes }, `worker ${handle.id} (pid ${handle.pid}) over its memory limit (${Math.round(rssBytes / 1048576)} MiB > ${this.options.maxMemoryMb} MiB); replacing it, then draining it`);
          this.emit('memory', { ...info, rssBytes, limitBytes: maxMemoryBytes });
          this.replaceWorker(slot, handle, 'memory');
        }
      }
    }
  }

  private async runStop(force: boolean): Promise<void> {
    this.setState('stopping');
    clearInterval(this.monitorTimer);
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      slot.nextRestartAt = undefined;
    }
    this.log.info({ workers: this.handles.size, drainTimeoutMs: this.options.drainTimeoutMs }, `stopping ${this.handles.size} worker(s)`);
    // A rollout or replacement may fork while the first drains are under way: repeat until nothing is left.
    while (this.handles.size > 0) {
      await Promise.all(
        [...this.handles].map((handle) => (force ? handle.kill('forced stop') : handle.stop('stop', this.options.drainTimeoutMs))),
      );
    }
    this.setState('stopped');
    this.log.info('all workers stopped');
  }
}
