/** What `zdt status` and `zdt upgrade` answer, and the text `zdt status` prints. */
import type { SupervisorStatus } from '../primary/supervisor.js';
import { describeServing } from '../primary/rollout/rollout.js';
import { IN_PLACE_ADVICE } from '../primary/releases/in-place.js';

/** `zdt status --json`: the supervisor's status plus what only `zdt start` knows. */
export interface CliStatus extends SupervisorStatus {
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
  /** The directory the serving release runs from (symlinks resolved). */
  release: string | null;
  /** The base directory of the releases zdt keeps (`deployTo`), null without one. */
  deployTo: string | null;
}

export type { UpgradeResult } from '../primary/upgrade/handover.js';

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

export function formatStatus(status: CliStatus): string {
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
    `entry ${status.entry}${status.release ? `, serving release ${status.release}` : ''}`,
    `serving: ${describeServing(status.serving)}${status.mixedGenerations ? ' (a rollback is being retried)' : ''}`,
  );
  const overwritten = status.workers.filter((worker) => worker.overwritten && worker.state === 'ready');
  if (overwritten.length > 0) {
    lines.push(`code overwritten in place: ${overwritten.length} of ${status.serving.length} worker(s) (${overwritten.map((worker) => `worker ${worker.id} pid ${worker.pid}`).join(', ')}) were forked from files written over their generation's since it was forked; after a refused release they run its files; ${IN_PLACE_ADVICE}`);
  }
  if (status.rollout) lines.push(`rollout of generation ${status.rollout.generation} in progress${status.rollout.queued ? ', one more queued' : ''}`);
  if (status.canary) {
    const { generation, baselineGeneration, windowMs, endsAt } = status.canary;
    lines.push(`canary in progress: generation ${generation}'s first batch vs generation ${baselineGeneration}, window ${windowMs}ms, closes at ${endsAt}`);
  }
  if (status.lastCanary) lines.push(`last canary: generation ${status.lastCanary.generation} ${status.lastCanary.decision}: ${status.lastCanary.message}`);
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

