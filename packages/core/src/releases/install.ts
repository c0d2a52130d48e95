/**
 * The install step of `zdt deploy`: node_modules travel with the build, or the user gives a command (the `install`
 * setting, e.g. `npm ci --omit=dev`) that runs in the new release's directory, through the shell, before anything
 * switches to it. Its output goes to the deploy's output; a failure fails the deploy (InstallFailedError).
 */
import { spawn } from 'node:child_process';
import { InstallFailedError } from '../errors.js';

/** The last lines of what a failed command printed, for its error message. */
const TAIL_LINES = 5;

export function runInstall(command: string, directory: string, print: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    print(`install: ${command} (in ${directory})`);
    const child = spawn(command, { cwd: directory, shell: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        print(`install: ${line}`);
        lines.push(line);
        if (lines.length > TAIL_LINES) lines.shift();
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error) => reject(new InstallFailedError(command, null, null, error.message)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new InstallFailedError(command, code, signal, lines.join(' | ')));
    });
  });
}
