import path from 'node:path';
import { realpathSync } from 'node:fs';

/**
 * process.cwd() is always the resolved directory; a shell started in `/srv/app/current` keeps that path in
 * $PWD. Using it makes the next fork follow a switched `current` symlink instead of the old release.
 */
export function logicalWorkingDirectory(): string {
  const physical = process.cwd();
  const logical = process.env.PWD;
  if (!logical || !path.isAbsolute(logical) || logical === physical) return physical;
  try {
    return realpathSync(logical) === physical ? logical : physical;
  } catch {
    return physical;
  }
}
