/**
 * Every process a test starts is tracked by pid and killed by pid afterwards. Liveness checks and waiting for an
 * exit come from the bench's process helpers, which the examples test uses too.
 */
import { isAlive, waitForExit as waitForPidExit } from '../../bench/lib/procs.mjs';

export { isAlive };

export const startedPids = new Set<number>();

export function track(pid: number | undefined): void {
  if (pid) startedPids.add(pid);
}

export function killTracked(): void {
  for (const pid of startedPids) {
    if (isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  startedPids.clear();
}

/** Polls until the pid is gone; bounded, so a test never hangs on it. */
export function waitForExit(pid: number, maxMs = 30_000): Promise<boolean> {
  return waitForPidExit(pid, maxMs);
}
