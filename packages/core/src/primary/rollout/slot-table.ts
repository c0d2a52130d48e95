/**
 * The slot table: one slot per wanted worker (ids 1..N), and the queue that makes rollouts and scale requests change
 * it one at a time. Removing slots drains their workers; what those drains cut is reported.
 */
import type { ResolvedOptions } from '../../options.js';
import { collectCuts } from './rollout.js';
import type { CutReport } from '../supervisor-types.js';
import { Slot } from './slot.js';

type Logger = ResolvedOptions['logger'];

export class SlotTable {
  readonly slots: Slot[] = [];
  /** Scale requests and rollouts change the slot list one at a time. */
  private changes: Promise<unknown> = Promise.resolve();

  /** Runs `change` after the slot-list changes queued before it (rollouts, scale requests). */
  change<T>(change: () => Promise<T>): Promise<T> {
    const result = this.changes.then(change);
    this.changes = result.catch(() => undefined);
    return result;
  }

  /** Appends `count` empty slots (ids stay 1..N). */
  add(count: number): Slot[] {
    const added: Slot[] = [];
    for (let index = 0; index < count; index++) {
      const slot = new Slot(this.slots.length + 1);
      this.slots.push(slot);
      added.push(slot);
    }
    return added;
  }

  /** Removes trailing slots among `candidates` that have no worker (ids stay 1..N). */
  dropEmpty(candidates: readonly Slot[]): void {
    for (;;) {
      const last = this.slots.at(-1);
      if (!last || !candidates.includes(last) || last.current) return;
      last.retired = true;
      last.cancelRestart();
      this.slots.pop();
    }
  }

  /** Removes the `count` highest slots and drains their workers. */
  async remove(count: number, killAfterMs: number, log: Logger): Promise<{ removed: number[]; cuts: CutReport[] }> {
    const removed = this.slots.splice(this.slots.length - count, count);
    const retiring = await Promise.all(
      removed.map((slot) =>
        slot.exclusive(async () => {
          slot.retired = true;
          slot.cancelRestart();
          const handle = slot.current;
          slot.current = undefined;
          if (!handle) return undefined;
          log.info({ workerId: slot.id, pid: handle.pid }, `worker ${slot.id} (pid ${handle.pid}) removed: draining it`);
          return { handle, exit: await handle.stop('scale', killAfterMs) };
        }),
      ),
    );
    const cuts = await collectCuts(retiring.filter((item) => item !== undefined));
    return { removed: removed.map((slot) => slot.id), cuts };
  }
}
