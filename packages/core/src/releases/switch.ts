/**
 * The supervisor's side of the releases zdt keeps (`deployTo`): `zdt deploy` and `zdt rollback` switch `current` to
 * a kept release and roll the workers onto it with the reload every other deploy uses, start-first. Every refused
 * rollout, whatever refused it (a worker that cannot boot, or any later check that refuses through the rollout's one
 * failure path, the `rollout:failed` event), switches `current` back to the release that serves and records why in
 * the base directory. The workers it replaced were already forked again from the serving release's resolved
 * directory (primary/releases/release.ts), so they run its files, and so does every crash restart.
 *
 * One deploy or rollback at a time: a second one waits for the first.
 */
import { RolloutFailedError, UsageError } from '../errors.js';
import type { Logger } from '../options.js';
import type { RolloutResult, Supervisor } from '../primary/supervisor.js';
import type { ReleaseStore } from './store.js';

export interface ReleaseSwitchHost {
  supervisor: Supervisor;
  logger: Logger;
  /** The daemon's reload: re-reads the configuration (now through the switched link), then rolls out. */
  reload(): Promise<RolloutResult>;
  keepReleases(): number;
}

export interface ReleaseRolloutResult extends RolloutResult {
  release: string;
  /** The release that served before, if zdt keeps it. */
  previous: string | undefined;
  /** Releases removed to keep `keepReleases`. */
  removed: string[];
}

export class ReleaseSwitch {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly store: ReleaseStore,
    private readonly host: ReleaseSwitchHost,
  ) {
    host.supervisor.on('rollout:failed', ({ generation, error }) => this.refused(generation, error));
    host.supervisor.on('rollout:done', () => {
      const serving = this.serving();
      if (serving !== undefined) this.store.record(serving, { servedAt: new Date().toISOString() });
    });
  }

  /** The kept release the supervisor serves (its last fully ready generation's directory). */
  serving(): string | undefined {
    const release = this.host.supervisor.servingRelease;
    return release === undefined ? undefined : this.store.idOf(release.cwd);
  }

  /** A refused rollout: `current` goes back to the serving release, and the refused one keeps why. */
  private refused(generation: number, error: RolloutFailedError): void {
    const current = this.store.current();
    const serving = this.serving();
    if (current === undefined || current === serving) return;
    const reason = error.workerId === undefined ? error.reason : `worker ${error.workerId} (pid ${error.pid}) ${error.reason}`;
    this.store.record(current, { refused: { at: new Date().toISOString(), generation, reason } });
    if (serving === undefined) return;
    this.store.switchTo(serving);
    this.host.logger.warn({ refused: current, serving }, `release ${current} refused: current points at release ${serving} again`);
  }

  deploy(id: string, keepReleases?: number): Promise<ReleaseRolloutResult> {
    return this.serially(() => this.rollTo(id, keepReleases));
  }

  /** Rolls back to `id`, or to the newest kept release before the serving one that was never refused. */
  rollback(id: string | undefined): Promise<ReleaseRolloutResult> {
    return this.serially(() => {
      const serving = this.serving();
      if (id !== undefined && id === serving) throw new UsageError(`rollback: release ${id} serves already`);
      return this.rollTo(id ?? this.previous(serving));
    });
  }

  private previous(serving: string | undefined): string {
    const releases = this.store.list();
    const at = releases.findIndex((release) => release.id === serving);
    if (serving === undefined || at < 0) throw new UsageError(`rollback: the serving release is not one kept in ${this.store.releasesDirectory}; name one`);
    const earlier = releases.slice(0, at).reverse().find((release) => release.refused === undefined);
    if (!earlier) throw new UsageError(`rollback: no release before ${serving} that was not refused is kept in ${this.store.releasesDirectory}`);
    return earlier.id;
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async rollTo(id: string, keepReleases = this.host.keepReleases()): Promise<ReleaseRolloutResult> {
    const previous = this.serving();
    this.store.switchTo(id);
    this.host.logger.info({ release: id }, `current -> releases/${id}: rolling the workers onto it`);
    try {
      const result = await this.host.reload();
      const removed = this.store.prune(keepReleases, [id, this.store.current()]);
      return { ...result, release: id, previous, removed };
    } catch (error) {
      if (error instanceof RolloutFailedError && previous !== undefined && this.store.current() === previous) {
        error.message += `; current points at release ${previous} again`;
      }
      // A refused rollout switched back already; anything that stopped the reload before a rollout did not.
      if (this.store.current() === id && previous !== undefined && previous !== id) {
        this.store.record(id, { refused: { at: new Date().toISOString(), reason: (error as Error).message } });
        this.store.switchTo(previous);
      }
      throw error;
    }
  }
}
