/**
 * Both halves of `zdt upgrade` as the two supervisors run them, on top of the messages in upgrade.ts (as tableflip
 * splits upgrader, parent and child): the old supervisor starts its successor, waits for it to be ready, tells it to
 * commit and drains its own workers, or stops it and keeps serving; the new one, once its workers are ready, waits
 * for the word and takes the control path and the PID file.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { InvalidStateError, UpgradeFailedError, UpgradeInProgressError } from '../../errors.js';
import type { Logger } from '../../options.js';
import type { UpgradeRequest } from '../control/server.js';
import type { ListenerInfo } from '../sockets/listeners.js';
import { readPidFile, writePidFile } from '../host/pid-file.js';
import type { CutReport, StopResult, Supervisor } from '../supervisor.js';
import { Successor, type Predecessor, type SuccessorWorker } from './upgrade.js';

/** What `zdt upgrade` answers. */
export interface UpgradeResult {
  from: { pid: number; node: string };
  to: { pid: number; node: string };
  workers: SuccessorWorker[];
  listeners: ListenerInfo[];
  cuts: CutReport[];
  durationMs: number;
}

/** An upgrade under way: the new supervisor, and whether it has taken over (control socket, PID file). */
export interface UpgradeUnderWay {
  successor: Successor;
  committed: boolean;
}

/** The old supervisor's side as the daemon gives it: its state, and what to do when the successor fails. */
export interface PredecessorHost {
  readonly supervisor: Supervisor;
  readonly logger: Logger;
  /** The arguments of this `zdt start`, given again to the successor. */
  readonly startArguments: string[];
  readonly workingDirectory: string;
  readonly startEnvironment: NodeJS.ProcessEnv;
  readonly pidFile: string | undefined;
  readonly stopping: boolean;
  upgrade: UpgradeUnderWay | undefined;
  /** Stops the successor and waits for it; the upgrade is over. */
  abandonSuccessor(): Promise<void>;
  /** After a failed takeover: answer at the control path again. */
  reclaimControl(): Promise<void>;
  stop(why: string, handedOver: boolean): Promise<StopResult>;
}

/** Why `node` cannot run a successor (not there, not executable, not a file), undefined when it can. */
export function nodeBinaryProblem(node: string): string | undefined {
  try {
    accessSync(node, constants.X_OK);
    if (!statSync(node).isFile()) throw new Error('not a file');
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  }
}

/** The Node.js binary the successor runs on: an executable file, or UpgradeFailedError. */
function checkNode(node: string): void {
  const problem = nodeBinaryProblem(node);
  if (problem !== undefined) throw new UpgradeFailedError(`--node ${node} is not an executable file (${problem})`, undefined);
}

/** The old supervisor: starts the successor with the listening sockets, and hands over once it is ready. */
export async function handOver(host: PredecessorHost, request: UpgradeRequest, progress: (message: string) => void): Promise<UpgradeResult> {
  const { supervisor, logger } = host;
  if (host.upgrade) throw new UpgradeInProgressError('upgrade', host.upgrade.successor.pid);
  if (host.stopping || supervisor.state !== 'running') throw new InvalidStateError('upgrade', host.stopping ? 'stopping' : supervisor.state);
  const listeners = supervisor.listenerDescriptors();
  if (listeners.length === 0) {
    throw new UpgradeFailedError(
      "this supervisor owns no listening socket (start it with --listen ADDRESS, or with systemd socket activation): its workers' ports belong to its node:cluster and cannot be handed to another process",
      undefined,
    );
  }
  const node = request.node ?? process.execPath;
  checkNode(node);
  const timeoutMs = request.timeoutMs ?? supervisor.options.readyTimeoutMs + 30_000;
  const began = Date.now();
  const successor = new Successor({
    node,
    cli: process.argv[1]!,
    execArgv: process.execArgv,
    argv: ['start', ...host.startArguments],
    cwd: host.workingDirectory,
    env: host.startEnvironment,
    listeners,
    metricsFd: supervisor.metricsDescriptor,
  });
  const upgrade: UpgradeUnderWay = { successor, committed: false };
  host.upgrade = upgrade;
  const who = `new supervisor pid ${successor.pid ?? '(none)'}`;
  logger.info({ pid: successor.pid, node }, `upgrade: started the ${who} (${node}) with ${listeners.length} listening socket(s); both serve until it is ready`);
  progress(`started the ${who} (${node}), handing it ${listeners.map((listener) => listener.address).join(', ')}`);
  let ready;
  try {
    ready = await successor.ready(timeoutMs);
    if (host.stopping) throw new UpgradeFailedError('a stop was requested during the upgrade', successor.pid, { outcome: 'both supervisors are stopping' });
    progress(`${who} ready on node ${ready.node}: ${ready.workers.map((worker) => `worker ${worker.id} pid ${worker.pid}`).join(', ')}`);
    // From here this supervisor's scrapes show the app metrics' sum as it hands it over: the new one's never show less.
    await successor.commit(10_000, supervisor.appMetrics.freeze());
  } catch (caught) {
    supervisor.appMetrics.thaw();
    throw await failed(host, successor, who, caught, progress);
  }
  upgrade.committed = true;
  const { pidFile } = host;
  logger.info({ pid: ready.pid }, `upgrade: supervisor pid ${ready.pid} (node ${ready.node}) took over the control socket${pidFile ? ' and the PID file' : ''}; draining the old workers`);
  progress(`supervisor pid ${ready.pid} took over the control socket${pidFile ? ` and ${pidFile}` : ''}; draining the old workers`);
  const stopped = await host.stop(`upgraded to supervisor pid ${ready.pid}`, true);
  // Every old worker is gone: what they counted to the end goes on in the new supervisor's sum.
  await successor.release(supervisor.appMetrics.summed());
  return {
    from: { pid: process.pid, node: process.version },
    to: { pid: ready.pid, node: ready.node },
    workers: ready.workers,
    listeners,
    cuts: stopped.cuts,
    durationMs: Date.now() - began,
  };
}

/** The successor failed before taking over: stop it, take back what it may have taken, and say why. */
async function failed(host: PredecessorHost, successor: Successor, who: string, caught: unknown, progress: (message: string) => void): Promise<UpgradeFailedError> {
  const error = caught instanceof UpgradeFailedError ? caught : new UpgradeFailedError((caught as Error).message, successor.pid, { cause: caught });
  const outcome = host.stopping ? 'stopping both supervisors' : `stopping the ${who}; this supervisor keeps serving`;
  host.logger.error({ pid: successor.pid, reason: error.reason }, `upgrade failed: ${error.reason}; ${outcome}`);
  progress(`${error.reason}: ${outcome}`);
  await host.abandonSuccessor();
  // It may have taken the path and the PID file just before it died: they are this supervisor's again.
  if (!host.stopping) await host.reclaimControl();
  if (!host.stopping && host.pidFile !== undefined && readPidFile(host.pidFile) !== process.pid) writePidFile(host.pidFile);
  return host.stopping ? new UpgradeFailedError(error.reason, successor.pid, { outcome: 'a stop was requested: both supervisors stopped' }) : error;
}

/** The new supervisor's side as the daemon gives it. */
export interface SuccessorHost {
  readonly supervisor: Supervisor;
  readonly logger: Logger;
  readonly pidFile: string | undefined;
  readonly stopping: boolean;
  /** The control socket's path now (a temporary name until the takeover). */
  readonly controlPath: string;
  /** Renames this supervisor's control socket over the control path. */
  takeOverControl(): void;
  stop(why: string): void;
}

/** The successor, once every worker is ready: wait for the old supervisor's word, then take the path and the PID file. */
export async function takeOver(host: SuccessorHost, from: Predecessor): Promise<void> {
  const workers = host.supervisor.status().workers.map((worker) => ({ id: worker.id, pid: worker.pid, generation: worker.generation }));
  const word = await from.ready({ pid: process.pid, node: process.version, workers });
  // Scrapes held since the start are answered now, with the old supervisor's sum in (metrics/app-metrics.ts).
  from.onAppMetrics((metrics, final) => host.supervisor.appMetrics.adopt(metrics, final));
  host.supervisor.appMetrics.release();
  if (host.stopping) return;
  try {
    host.takeOverControl();
    if (host.pidFile !== undefined) writePidFile(host.pidFile);
  } catch (error) {
    from.failed(error);
    host.logger.error(`could not take over from supervisor pid ${from.pid}: ${(error as Error).message}; stopping`);
    host.stop('takeover failed');
    return;
  }
  from.committed();
  const how = word === 'commit' ? `supervisor pid ${from.pid} handed over` : `supervisor pid ${from.pid} went away before handing over`;
  host.logger.info(`${how}: control socket ${host.controlPath}${host.pidFile ? `, PID file ${host.pidFile}` : ''} now this supervisor's (pid ${process.pid})`);
}
