#!/usr/bin/env node
/**
 * `zdt`: run an app under the supervisor in the foreground, and talk to a
 * running one over its control socket. Exit codes: 0 success, 1 the operation
 * failed (start, reload, scale, no supervisor), 2 bad usage or configuration,
 * 3 done but requests were cut at a drain deadline.
 */
import { createRequire } from 'node:module';
import { UsageError } from './errors.js';
import { reload, scale, status, stop, upgrade } from './cli/client.js';
import { deploy, releases, rollback } from './cli/deploy.js';
import { HELP, type Command } from './cli/help.js';
import { fail, print } from './cli/output.js';
import { start } from './cli/start.js';
import { verify } from './cli/verify.js';

const COMMANDS: Record<Exclude<Command, 'main'>, (argv: string[]) => Promise<number>> = { start, reload, scale, upgrade, deploy, releases, rollback, status, stop };

function version(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name !== undefined && Object.hasOwn(COMMANDS, name) ? (name as Exclude<Command, 'main'>) : undefined;
  try {
    if (name === '--help' || name === '-h' || name === 'help') {
      print(HELP.main);
      return 0;
    }
    if (name === '--version' || name === '-v') {
      print(version());
      return 0;
    }
    if (name === undefined) throw new UsageError('missing command');
    if (name === 'verify') return await verify(rest);
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}; expected start, reload, scale, upgrade, deploy, releases, rollback, status, stop or verify`);
    return await COMMANDS[command](rest);
  } catch (error) {
    return fail(error, command);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = fail(error, undefined);
  },
);
