/**
 * `zdt verify` lives in its own package, @zero-downtime/verify (a devDependency: a CI tool with its load clients), so
 * that `zdt start` and a production install carry none of it. This finds it, from the user's project first and then
 * beside this core, loads it only now, and runs it with this core's launcher; without it, the install line (exit 2).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VerifyNotInstalledError } from '../errors.js';
import { logicalWorkingDirectory } from '../working-directory.js';

const PACKAGE = '@zero-downtime/verify';
/** This core's package directory (dist/cli.cjs runs this). */
const CORE = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

interface VerifyPackage {
  verify(argv: string[], options: { zdt: string }): Promise<number>;
}

/** Where @zero-downtime/verify is found: from the working directory's project, else from beside this core. */
export function findVerify(): { resolved: string } | { searched: string[] } {
  const searched = [logicalWorkingDirectory(), CORE];
  for (const directory of searched) {
    try {
      return { resolved: createRequire(path.join(directory, 'package.json')).resolve(PACKAGE) };
    } catch {
      // not installed there: look in the next place
    }
  }
  return { searched };
}

export async function verify(argv: string[]): Promise<number> {
  const found = findVerify();
  if ('searched' in found) throw new VerifyNotInstalledError(found.searched);
  const loaded = createRequire(found.resolved)(found.resolved) as VerifyPackage;
  // This core's launcher (bin/zdt.cjs beside dist/cli.cjs): the app starts under the same zdt that runs verify.
  return loaded.verify(argv, { zdt: path.join(CORE, 'bin', 'zdt.cjs') });
}
