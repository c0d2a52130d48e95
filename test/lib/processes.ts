/** Every process a test starts is tracked by pid and killed by pid afterwards. */
export const startedPids = new Set<number>();

export function track(pid: number | undefined): void {
  if (pid) startedPids.add(pid);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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
export async function waitForExit(pid: number, maxMs = 30_000): Promise<boolean> {
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return !isAlive(pid);
}
