/**
 * A deploy directory the way releases are usually laid out: `releases/<name>/` per release and a `current`
 * symlink switched atomically to the new one. The supervisor runs with `current` as its working directory.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RELEASE_APP = fileURLToPath(new URL('../fixtures/apps/release.cjs', import.meta.url));

export interface DeployDirectory {
  root: string;
  /** The `current` symlink: the supervisor's cwd. */
  current: string;
  /** Writes release `name` (broken on the given worker ids, if any) and points `current` at it. */
  deploy(name: string, options?: { brokenOnWorkers?: number[] }): void;
  remove(): void;
}

export function deployDirectory(): DeployDirectory {
  const root = mkdtempSync(path.join(os.tmpdir(), 'zdt-releases-'));
  const current = path.join(root, 'current');
  return {
    root,
    current,
    deploy(name, options = {}) {
      const directory = path.join(root, 'releases', name);
      mkdirSync(directory, { recursive: true });
      writeFileSync(path.join(directory, 'app.cjs'), `require(${JSON.stringify(RELEASE_APP)});\n`);
      if (options.brokenOnWorkers) writeFileSync(path.join(directory, 'broken-on-workers'), options.brokenOnWorkers.join('\n'));
      const next = path.join(root, `current.${name}`);
      symlinkSync(directory, next);
      renameSync(next, current);
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
