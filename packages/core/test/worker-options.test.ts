import { afterEach, describe, expect, it } from 'vitest';
import { closeAfterDrain, configure, InvalidOptionError, onShutdown, resolveWorkerOptions, WORKER_DEFAULTS } from '../src/worker/index.js';
import { killTracked } from '@zero-downtime/testkit';
import { Fixture } from './worker-harness.js';

// This file loads the worker side into the test process itself: keep it from reacting to signals or exiting.
configure({ signals: false, handleUncaughtExceptions: false, exit: false, logger: false });

afterEach(killTracked);

describe('worker options', () => {
  it('resolves the documented defaults', () => {
    expect(resolveWorkerOptions()).toMatchObject({ ...WORKER_DEFAULTS });
    expect(WORKER_DEFAULTS).toEqual({
      drainTimeoutMs: 10_000,
      idleGraceMs: 1_000,
      shutdownDelayMs: 0,
      cleanupTimeoutMs: 5_000,
      signals: true,
      handleUncaughtExceptions: true,
      replaceTimeoutMs: 30_000,
      exit: true,
    });
  });

  it.each([
    [{ drainTimeoutMs: -1 }, 'drainTimeoutMs', -1],
    [{ idleGraceMs: '1s' }, 'idleGraceMs', '1s'],
    [{ shutdownDelayMs: Number.NaN }, 'shutdownDelayMs', Number.NaN],
    // A node timer fires at once past 2^31 - 1 ms: such a drain deadline would cut every request immediately.
    [{ drainTimeoutMs: 2 ** 31 }, 'drainTimeoutMs', 2 ** 31],
    [{ signals: 'yes' }, 'signals', 'yes'],
    [{ logger: { info() {} } }, 'logger', { info() {} }],
    [{ drainTimeout: 5 }, 'drainTimeout', 5],
  ])('refuses %j with InvalidOptionError (ERR_ZDT_INVALID_OPTION) naming the option', (options, option, received) => {
    let caught: unknown;
    try {
      configure(options as never);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidOptionError);
    expect(caught).toMatchObject({ code: 'ERR_ZDT_INVALID_OPTION', option });
    expect((caught as InvalidOptionError).message).toContain(option);
    if (typeof received !== 'object') expect((caught as InvalidOptionError).received).toEqual(received);
  });

  it('refuses a hook that is not a function and a negative hook timeout', () => {
    expect(() => onShutdown('close db' as never)).toThrow(expect.objectContaining({ code: 'ERR_ZDT_INVALID_OPTION', option: 'hook' }));
    expect(() => onShutdown(() => {}, { timeoutMs: -5 })).toThrow(expect.objectContaining({ option: 'timeoutMs' }));
    expect(() => closeAfterDrain('app.close()' as never, 'app')).toThrow(expect.objectContaining({ option: 'close' }));
  });

  it('the ESM and CJS builds loaded in one process share one lifecycle', async () => {
    const dual = new Fixture('worker-dual.mjs');
    const result = await dual.waitForEvent('result');
    expect(result).toMatchObject({
      distinctCopies: true,
      before: 'running',
      afterEsm: 'exiting',
      draining: true,
      order: ['registered through ESM', 'registered through CJS'],
      report: { reason: 'manual', clean: true, cut: 0, served: 0 },
      same: true,
    });
    expect(await dual.waitForExit()).toEqual({ code: 0, signal: null });
  });
});
