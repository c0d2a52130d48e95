/**
 * Deploys that overwrite files in place. A release is pinned by its resolved paths (release.ts), which restores the
 * previous code only when each release lives in a directory of its own. When a rollout's entry resolves to the same
 * path as the release serving but its content changed, the new release was written over the old one: a rollback, a
 * crash restart or a replacement then forks whatever is on disk, under the old generation's number. zdt cannot bring
 * that code back; it can tell, and it says so instead of claiming that the older generation serves.
 *
 * The fingerprint is the entry file's content: an app whose entry only requires a build directory that changed is
 * not told apart (say so in the docs).
 */
import { codeFingerprint, type Release } from './release.js';

/** What to do about it, in every message that reports code overwritten in place. */
export const IN_PLACE_ADVICE = "deploy with 'zdt deploy' or into release directories behind a symlink, so a rollback restores the previous code";

/** True when `release`'s entry no longer holds the code it had when its generation was first forked. */
export function overwrittenSince(release: Release): boolean {
  return release.code !== undefined && codeFingerprint(release.entryPath) !== release.code;
}

/** The new release is the old one's files, changed in place: same resolved directory and entry, other content. */
export function writtenInPlace(target: Release, previous: Release): boolean {
  return target.cwd === previous.cwd && target.entryPath === previous.entryPath && target.code !== previous.code;
}

/** The warning logged (once per supervisor) at the first rollout of a release written in place. */
export function inPlaceWarning(target: Release, previous: Release): string {
  return (
    `generation ${target.generation} was written over generation ${previous.generation}'s files in place (${target.entryPath} changed): ` +
    `if it is refused, the rollback and every crash restart fork the files now on disk, not generation ${previous.generation}'s code; ${IN_PLACE_ADVICE}`
  );
}

const workerList = (ids: readonly number[]) => `worker${ids.length === 1 ? '' : 's'} ${ids.join(', ')}`;

/**
 * What a refused rollout written in place left serving, told without claiming that the older generation serves:
 * how many workers run the refused files and which, and what to do.
 */
export function describeInPlaceRollback(rollback: { toGeneration: number; rolledBack: number; overwritten: number[] }, total: number, entryPath: string): string {
  const { toGeneration, rolledBack, overwritten } = rollback;
  const how = `the release was written over generation ${toGeneration}'s files in place (${entryPath} changed), so a rollback cannot restore generation ${toGeneration}'s code`;
  const running =
    overwritten.length === 0
      ? `nothing was replaced: the ${total} worker(s) of generation ${toGeneration} still run its code, forked before the overwrite, but a worker restarted now (a crash) runs the refused files`
      : `${overwritten.length} of ${total} workers run the refused files (${workerList(overwritten)}${rolledBack > 0 ? `, forked again by the rollback under generation ${toGeneration}'s number` : ''})`;
  return `${running}; ${how}; ${IN_PLACE_ADVICE}`;
}
