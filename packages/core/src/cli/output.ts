/** What every command prints and exits with: the result line, errors by kind, and the requests cut at a deadline. */
import { EntryNotFoundError, exitStatusOf, InvalidOptionError, UsageError, ZdtError } from '../errors.js';
import type { CutReport } from '../primary/supervisor.js';
import type { Command } from './help.js';

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Writes the error and returns the exit status its class carries (errors.ts: 2 bad input, 1 a failure). */
export function fail(error: unknown, command: Command | undefined): number {
  if (!(error instanceof ZdtError)) {
    process.stderr.write(`zdt: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return exitStatusOf(error);
  }
  // Bad usage gets the pointer to the command's help; a configuration or control path that must not be used does not.
  const usage = error instanceof UsageError || error instanceof InvalidOptionError || error instanceof EntryNotFoundError;
  const hint = usage ? `\nRun '${command ? `zdt ${command} --help` : 'zdt --help'}' for usage.` : '';
  process.stderr.write(`zdt: ${error.code}: ${error.message}${hint}\n`);
  return exitStatusOf(error);
}

/** `zdt reload`, `zdt scale` and `zdt stop` exit with this when the work was done but requests were cut at a drain deadline. */
export const EXIT_CUT = 3;

export function describeCuts(what: 'reload' | 'stop' | 'scale' | 'upgrade', cuts: readonly CutReport[]): string {
  const parts = cuts.map((cut) => {
    const count = cut.cut === undefined ? 'its requests in flight' : `${cut.cut} connection(s)`;
    return `worker ${cut.workerId} (pid ${cut.pid}, generation ${cut.generation}) ${cut.killed ? 'was killed at its deadline, cutting' : 'cut'} ${count}`;
  });
  const done = {
    reload: 'the rollout replaced every worker, but',
    stop: 'every worker stopped, but',
    scale: 'the workers were removed, but',
    upgrade: 'the new supervisor serves, but',
  }[what];
  return `${done} ${parts.join('; ')} at the drain deadline; raise --drain-timeout to give requests more time`;
}

