/**
 * A release is the code a generation of workers runs: the working directory and entry file as they resolved when
 * the generation was first forked. Every worker of a generation forks from the same resolved paths, so a deploy
 * that switches a `current` symlink mid-rollout, or after a refused release, cannot mix code into a generation; and
 * the last release that was fully ready can be forked again (crash restarts, rollbacks) after the symlink moved on.
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';

/** What a release is started with besides its code; a reload may change them (a re-read configuration). */
export interface ReleaseSettings {
  env: Record<string, string>;
  args: string[];
  execArgv: string[];
}

export interface Release {
  generation: number;
  /** The working directory, symlinks resolved. */
  cwd: string;
  /** The entry file, symlinks resolved. */
  entryPath: string;
  /** The entry file's content fingerprint when the generation was first forked: tells a deploy that overwrote it in place. */
  code?: string;
  settings: ReleaseSettings;
}

/** The entry file's content fingerprint; undefined when it cannot be read (the fork reports that itself). */
export function codeFingerprint(entryPath: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(entryPath)).digest('hex').slice(0, 16);
  } catch {
    return undefined;
  }
}

/** Resolves the logical paths now; throws the fs error (ENOENT) when the entry is gone. */
export function resolveRelease(generation: number, cwd: string, entryPath: string, settings: ReleaseSettings): Release {
  const resolvedEntry = realpathSync(entryPath);
  return { generation, cwd: realpathSync(cwd), entryPath: resolvedEntry, code: codeFingerprint(resolvedEntry), settings };
}

export function describeRelease(release: Release): string {
  return `generation ${release.generation} (${release.entryPath})`;
}
