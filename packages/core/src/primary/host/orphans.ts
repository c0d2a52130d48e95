/**
 * Workers a SIGKILLed supervisor left behind. A worker that still runs its event loop exits by itself when its IPC
 * channel drops; one stuck in a busy loop never notices and keeps a core busy for good. A new `zdt start` on the
 * same control path finds those (its own kind only, recognised by more than a pid) and stops them.
 *
 * Linux only: discovery reads `/proc/<pid>/environ` and `/proc/<pid>/stat`. Where there is no `/proc` (macOS,
 * Windows) `findOrphanedWorkers` returns [] and nothing is stopped.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { Logger } from '../../options.js';
import { WORKER_ENV } from '../../protocol.js';

/** Set by `cluster.fork` in each worker's initial environment; node deletes it from `process.env` at startup. */
const CLUSTER_WORKER_ENV = 'NODE_UNIQUE_ID';

export interface OrphanedWorker {
  pid: number;
  /** The supervisor pid recorded in the worker's environment; that supervisor is gone. */
  supervisorPid: number;
  /** `ZDT_WORKER_ID` and `ZDT_GENERATION` from the worker's environment, when present. */
  workerId: string | undefined;
  generation: string | undefined;
  /** Field 22 of `/proc/<pid>/stat` (clock ticks after boot) read at discovery: with the pid, the process's identity. */
  startTime: number;
}

export interface StoppedOrphan extends OrphanedWorker {
  /** The signal that ended it: SIGTERM, or SIGKILL when it was still running at the end of the SIGTERM grace. */
  signal: 'SIGTERM' | 'SIGKILL';
}

export interface StopOrphansOptions {
  /** How long an orphan has to exit after SIGTERM before it gets SIGKILL. @default 2000 */
  termGraceMs?: number;
  /** How long to wait for it to be gone after SIGKILL before reporting it as not stopped. @default 2000 */
  killWaitMs?: number;
  /** Poll interval while waiting for exits. @default 25 */
  pollMs?: number;
}

interface ProcStat {
  state: string;
  ppid: number;
  startTime: number;
}

const PROC = '/proc';

/** `/proc/<pid>/stat`, or undefined when the process is gone (or there is no /proc). */
function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`${PROC}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..." where comm may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const ppid = Number(fields[1]);
  const startTime = Number(fields[19]);
  if (!state || !Number.isInteger(ppid) || !Number.isFinite(startTime)) return undefined;
  return { state, ppid, startTime };
}

/** Dead, or dead and not yet reaped (a zombie runs nothing and holds no resources but its pid). */
function isDead(stat: ProcStat | undefined): boolean {
  return stat === undefined || stat.state === 'Z' || stat.state === 'X';
}

function readEnviron(pid: number): Map<string, string> | undefined {
  let text: string;
  try {
    text = readFileSync(`${PROC}/${pid}/environ`, 'utf8');
  } catch {
    return undefined;
  }
  // Cheap reject before parsing: almost no process on the machine is a supervised worker.
  if (!text.includes(`${WORKER_ENV.supervised}=1`)) return undefined;
  const env = new Map<string, string>();
  for (const entry of text.split('\0')) {
    const equals = entry.indexOf('=');
    if (equals > 0) env.set(entry.slice(0, equals), entry.slice(equals + 1));
  }
  return env;
}

/**
 * Whether the supervisor recorded in a worker's environment is gone. Its own live supervisor is the worker's
 * parent; when the worker's parent is someone else, the supervisor died (the worker was reparented) and its pid
 * is either free or reused by a process that started after the worker (so cannot have forked it). A process at
 * that pid that is not the parent but started no later than the worker is left alone: it might be the supervisor.
 */
function supervisorIsGone(worker: ProcStat, supervisorPid: number): boolean {
  if (worker.ppid === supervisorPid) return false;
  const supervisor = readStat(supervisorPid);
  if (isDead(supervisor)) return true;
  return supervisor!.startTime > worker.startTime;
}

/**
 * Processes of the caller's uid that a killed supervisor on `controlPath` left behind: cluster workers whose
 * environment has `ZDT_SUPERVISED=1`, `ZDT_SUPERVISOR_CONTROL` equal to `controlPath` (resolved, as the CLI sets
 * it) and a `ZDT_SUPERVISOR_PID` that is no longer a live supervisor of theirs. Never this process or its children.
 * A worker's own child processes inherit the ZDT_* variables but not `NODE_UNIQUE_ID`, so they are not taken for
 * workers. Returns [] where there is no /proc. Never throws: a process that vanishes or cannot be read is skipped.
 *
 * Only meaningful once this process owns `controlPath` (its control socket is listening): that proves no live
 * supervisor serves that path.
 */
export function findOrphanedWorkers(controlPath: string): OrphanedWorker[] {
  let entries: string[];
  try {
    entries = readdirSync(PROC);
  } catch {
    return [];
  }
  const uid = process.getuid?.();
  if (uid === undefined) return [];
  const orphans: OrphanedWorker[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      if (statSync(`${PROC}/${entry}`).uid !== uid) continue;
    } catch {
      continue;
    }
    const before = readStat(pid);
    if (isDead(before) || before!.ppid === process.pid) continue;
    const env = readEnviron(pid);
    if (!env) continue;
    if (env.get(WORKER_ENV.supervised) !== '1') continue;
    if (env.get(WORKER_ENV.supervisorControl) !== controlPath) continue;
    if (!env.has(CLUSTER_WORKER_ENV)) continue;
    const recorded = env.get(WORKER_ENV.supervisorPid) ?? '';
    if (!/^\d+$/.test(recorded)) continue;
    const supervisorPid = Number(recorded);
    if (supervisorPid <= 0 || supervisorPid === pid) continue;
    // The environment read above belongs to the process whose start time was read before it, not to a successor.
    const after = readStat(pid);
    if (isDead(after) || after!.startTime !== before!.startTime) continue;
    if (!supervisorIsGone(after!, supervisorPid)) continue;
    orphans.push({
      pid,
      supervisorPid,
      workerId: env.get(WORKER_ENV.workerId),
      generation: env.get(WORKER_ENV.generation),
      startTime: after!.startTime,
    });
  }
  return orphans;
}

/** The orphan is still the process found at discovery: same pid, same start time, not yet dead. */
function isSameProcess(orphan: OrphanedWorker): boolean {
  const stat = readStat(orphan.pid);
  return !isDead(stat) && stat!.startTime === orphan.startTime;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitUntilGone(orphan: OrphanedWorker, timeoutMs: number, pollMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isSameProcess(orphan)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}

/** Sends a signal only if the pid still holds the process found at discovery. False when it is gone. */
function signalIfSame(orphan: OrphanedWorker, signal: NodeJS.Signals): boolean {
  if (!isSameProcess(orphan)) return false;
  try {
    process.kill(orphan.pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

function describeWorker(orphan: OrphanedWorker): string {
  const details = [
    orphan.workerId === undefined ? undefined : `worker ${orphan.workerId}`,
    orphan.generation === undefined ? undefined : `generation ${orphan.generation}`,
  ].filter(Boolean);
  return `pid ${orphan.pid}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
}

/**
 * Stops orphans found by `findOrphanedWorkers`, all at once: SIGTERM, up to `termGraceMs` to exit, then SIGKILL.
 * Each signal goes by pid and only after checking that the pid still holds the process found at discovery (its
 * /proc start time), so a reused pid is never signalled. Logs one line per orphan and one summary per dead
 * supervisor. Resolves with the orphans it stopped; never rejects.
 */
export async function stopOrphanedWorkers(
  orphans: readonly OrphanedWorker[],
  logger: Logger,
  options: StopOrphansOptions = {},
): Promise<StoppedOrphan[]> {
  const termGraceMs = options.termGraceMs ?? 2_000;
  const killWaitMs = options.killWaitMs ?? 2_000;
  const pollMs = options.pollMs ?? 25;

  const stopOne = async (orphan: OrphanedWorker): Promise<StoppedOrphan | undefined> => {
    const info = { pid: orphan.pid, supervisorPid: orphan.supervisorPid, workerId: orphan.workerId, generation: orphan.generation };
    logger.warn(info, `found orphaned worker ${describeWorker(orphan)} left by supervisor pid ${orphan.supervisorPid}; stopping it`);
    try {
      if (!signalIfSame(orphan, 'SIGTERM')) {
        logger.info(info, `orphaned worker pid ${orphan.pid} exited before it was signalled`);
        return undefined;
      }
      if (await waitUntilGone(orphan, termGraceMs, pollMs)) return { ...orphan, signal: 'SIGTERM' };
      // Gone between the last poll and now: SIGTERM did it after all.
      if (!signalIfSame(orphan, 'SIGKILL')) return { ...orphan, signal: 'SIGTERM' };
      if (!(await waitUntilGone(orphan, killWaitMs, pollMs))) {
        logger.error(info, `orphaned worker pid ${orphan.pid} is still running ${killWaitMs}ms after SIGKILL; left as it is`);
        return undefined;
      }
      return { ...orphan, signal: 'SIGKILL' };
    } catch (error) {
      logger.error(info, `could not stop orphaned worker pid ${orphan.pid}: ${(error as Error).message}`);
      return undefined;
    }
  };

  const results = await Promise.all(orphans.map(stopOne));
  const stopped = results.filter((result): result is StoppedOrphan => result !== undefined);

  const bySupervisor = new Map<number, StoppedOrphan[]>();
  for (const orphan of stopped) bySupervisor.set(orphan.supervisorPid, [...(bySupervisor.get(orphan.supervisorPid) ?? []), orphan]);
  for (const [supervisorPid, group] of bySupervisor) {
    const each = group.map(
      (orphan) => `pid ${orphan.pid} (${orphan.signal === 'SIGTERM' ? 'exited on SIGTERM' : 'SIGKILL after SIGTERM was ignored'})`,
    );
    logger.warn(
      { supervisorPid, pids: group.map((orphan) => orphan.pid) },
      `stopped ${group.length} orphaned worker${group.length === 1 ? '' : 's'} left by supervisor pid ${supervisorPid}: ${each.join(', ')}`,
    );
  }
  return stopped;
}
