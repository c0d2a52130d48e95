/** What every command prints and exits with: the result line, errors by kind, and the requests cut at a deadline. */
import {
  ConfigError,
  ControlPathError,
  ControlPermissionError,
  ControlUntrustedError,
  EntryNotFoundError,
  InvalidOptionError,
  ListenError,
  PidFileError,
  UsageError,
  ZdtError,
} from '../errors.js';
import type { CutReport } from '../primary/supervisor.js';
import type { Command } from './help.js';

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function fail(error: unknown, command: Command | undefined): number {
  if (error instanceof UsageError || error instanceof InvalidOptionError || error instanceof EntryNotFoundError) {
    const hint = command ? `zdt ${command} --help` : 'zdt --help';
    process.stderr.write(`zdt: ${error.code}: ${error.message}\nRun '${hint}' for usage.\n`);
    return 2;
  }
  // A configuration or control path that cannot or must not be used is bad input: nothing was attempted.
  if (
    error instanceof ConfigError ||
    error instanceof ListenError ||
    error instanceof PidFileError ||
    error instanceof ControlUntrustedError ||
    error instanceof ControlPathError ||
    error instanceof ControlPermissionError
  ) {
    process.stderr.write(`zdt: ${error.code}: ${error.message}\n`);
    return 2;
  }
  if (error instanceof ZdtError) {
    process.stderr.write(`zdt: ${error.code}: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`zdt: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
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

