/**
 * The PID file (`zdt start --pid-file`): the pid of the supervisor that is current, for a service manager that
 * follows the main process through `zdt upgrade` (systemd's `PIDFile=`). Written whole or not at all (a temporary
 * file in the same directory, then a rename), by the supervisor that starts and by the one that takes over; removed
 * at the stop by the supervisor it names, never by one that handed over.
 */
import { accessSync, constants, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PidFileError } from '../../errors.js';

/** Throws PidFileError unless the file can be written: its directory exists and is writable. */
export function checkPidFile(file: string): void {
  const directory = path.dirname(file);
  try {
    if (!statSync(directory).isDirectory()) throw new PidFileError(file, `${directory} is not a directory`);
    accessSync(directory, constants.W_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof PidFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new PidFileError(file, code === 'ENOENT' ? `${directory} does not exist` : `${directory} is not writable (${code})`, { cause: error });
  }
}

export function writePidFile(file: string, pid = process.pid): void {
  checkPidFile(file);
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${pid}.tmp`);
  try {
    writeFileSync(temporary, `${pid}\n`, { mode: 0o644 });
    renameSync(temporary, file);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // Never written.
    }
    throw new PidFileError(file, (error as Error).message, { cause: error });
  }
}

/** The pid the file names, undefined when it is missing or holds no pid. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the file while it still names `pid` (after an upgrade it names the new supervisor). */
export function removePidFile(file: string, pid = process.pid): void {
  if (readPidFile(file) !== pid) return;
  try {
    unlinkSync(file);
  } catch {
    // Already gone.
  }
}
