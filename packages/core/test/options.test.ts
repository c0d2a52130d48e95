import { describe, expect, it } from 'vitest';
import os from 'node:os';
import {
  DEFAULTS,
  EntryNotFoundError,
  InvalidOptionError,
  parseDuration,
  resolveOptions,
  Supervisor,
  type SupervisorOptions,
} from '../src/index.js';

function rejection(options: unknown): InvalidOptionError {
  try {
    resolveOptions(options as SupervisorOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error('resolveOptions accepted bad options');
}

describe('resolveOptions', () => {
  it('fills every default', () => {
    const resolved = resolveOptions({ entry: 'app.js', logger: false });
    expect(resolved).toMatchObject({
      args: [],
      env: {},
      execArgv: [],
      workers: os.availableParallelism(),
      readiness: 'listening',
      readyTimeoutMs: 30_000,
      drainTimeoutMs: 30_000,
      cleanupTimeoutMs: 5_000,
      // The kill deadline follows from the drain time: drain, then cleanup, then a margin.
      killAfterMs: 36_000,
      backoff: { initialMs: 100, maxMs: 30_000, multiplier: 2, jitter: 0.2 },
      minUptimeMs: 1_000,
      rolloutBatchSize: 1,
      // A hung worker is found in under 10 s by default.
      heartbeatIntervalMs: 1_000,
      heartbeatTimeoutMs: 5_000,
      maxMemoryMb: 0,
      maxMemoryBytes: 0,
      silent: false,
    });
    expect(resolved.entryPath).toBe(`${process.cwd()}/app.js`);
    expect(DEFAULTS.drainTimeoutMs).toBe(30_000);
    expect(DEFAULTS.workers()).toBe(os.availableParallelism());
  });

  it.each([
    [{ entry: '' }, 'entry', ''],
    [{ entry: 'a.js', workers: 0 }, 'workers', 0],
    [{ entry: 'a.js', workers: 1.5 }, 'workers', 1.5],
    [{ entry: 'a.js', readiness: 'soon' }, 'readiness', 'soon'],
    [{ entry: 'a.js', readyTimeoutMs: -1 }, 'readyTimeoutMs', -1],
    [{ entry: 'a.js', drainTimeoutMs: '30s' }, 'drainTimeoutMs', '30s'],
    // Past the timer range node would fire after 1 ms: refused instead.
    [{ entry: 'a.js', drainTimeoutMs: 2 ** 31 }, 'drainTimeoutMs', 2 ** 31],
    [{ entry: 'a.js', readyTimeoutMs: 2 ** 31 }, 'readyTimeoutMs', 2 ** 31],
    [{ entry: 'a.js', drainTimeoutMs: 2 ** 31 - 1 }, 'drainTimeoutMs', 2 ** 31 - 1],
    [{ entry: 'a.js', backoff: { jitter: 2 } }, 'backoff.jitter', 2],
    [{ entry: 'a.js', backoff: { initialMs: 500, maxMs: 100 } }, 'backoff.maxMs', 100],
    [{ entry: 'a.js', heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 1_000 }, 'heartbeatTimeoutMs', 1_000],
    [{ entry: 'a.js', maxMemoryMb: -5 }, 'maxMemoryMb', -5],
    [{ entry: 'a.js', args: 'x' }, 'args', 'x'],
    [{ entry: 'a.js', env: { PORT: 3000 } }, 'env.PORT', 3000],
    [{ entry: 'a.js', logger: console.log }, 'logger', console.log],
    [{ entry: 'a.js', wrokers: 2 }, 'wrokers', 'wrokers'],
  ])('rejects %j naming the option and the value', (options, option, received) => {
    const error = rejection({ logger: false, ...options });
    expect(error.code).toBe('ERR_ZDT_INVALID_OPTION');
    expect(error.option).toBe(option);
    expect(error.received).toBe(received);
    expect(error.message).toContain(`"${option}"`);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1.5s', 1_500],
    ['250', 250],
    [750, 750],
  ])('parses %j', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each(['', 'soon', '5x', '-1s', '1h', 'ms'])('rejects %j', (input) => {
    expect(() => parseDuration(input, 'drain-timeout')).toThrow(InvalidOptionError);
    expect(() => parseDuration(input, 'drain-timeout')).toThrow(/"drain-timeout"/);
  });
});

describe('Supervisor construction', () => {
  it('throws EntryNotFoundError for a missing entry', () => {
    expect(() => new Supervisor({ entry: 'does-not-exist.js', logger: false })).toThrow(EntryNotFoundError);
    try {
      new Supervisor({ entry: 'does-not-exist.js', logger: false });
    } catch (error) {
      expect((error as EntryNotFoundError).code).toBe('ERR_ZDT_ENTRY_NOT_FOUND');
    }
  });
});
