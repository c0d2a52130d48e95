import { describe, expect, it } from 'vitest';
import { isDrainingState, WorkerDrainState, type DrainState } from '../src/worker/drain-state.js';

const STATES: DrainState[] = ['running', 'replacing', 'draining', 'cleanup', 'exiting'];
const ALLOWED = new Set(['running>replacing', 'running>draining', 'replacing>draining', 'draining>cleanup', 'cleanup>exiting']);

/** A state machine brought to `state` by allowed moves only. */
function at(state: DrainState): WorkerDrainState {
  const path: Record<DrainState, DrainState[]> = {
    running: [],
    replacing: ['replacing'],
    draining: ['draining'],
    cleanup: ['draining', 'cleanup'],
    exiting: ['draining', 'cleanup', 'exiting'],
  };
  const machine = new WorkerDrainState();
  for (const step of path[state]) machine.transition(step);
  return machine;
}

describe('the worker\'s drain state', () => {
  it.each(STATES.flatMap((from) => STATES.map((to) => [from, to] as const)))('%s -> %s is allowed only along the one-way life', (from, to) => {
    const machine = at(from);
    if (ALLOWED.has(`${from}>${to}`)) {
      machine.transition(to);
      expect(machine.current).toBe(to);
    } else {
      expect(() => machine.transition(to)).toThrow(`illegal drain state move ${from} -> ${to}`);
      expect(machine.current).toBe(from);
    }
  });

  it('counts as draining from the drain start on, not while a replacement is only asked for', () => {
    expect(STATES.filter(isDrainingState)).toEqual(['draining', 'cleanup', 'exiting']);
    expect(STATES.filter((state) => at(state).serving)).toEqual(['running']);
    expect(STATES.filter((state) => at(state).httpDrained)).toEqual(['cleanup', 'exiting']);
  });
});
