/**
 * The value grammars of every setting: durations, counts, sizes, addresses. Each parser takes what a file, a flag or
 * the environment gives (a flag's value is always text) and returns the value the supervisor runs with, or throws
 * InvalidValue saying what was expected; the caller names the key, flag or option. Nothing here loads primary code,
 * so the worker side (`@zero-downtime/core/worker`) can read the environment the supervisor writes with the same rules.
 */
import { availableParallelism } from 'node:os';
import { ConfigError, InvalidOptionError } from '../errors.js';

/** A value that does not fit its setting: the caller adds the key (and the file) or the flag. */
export class InvalidValue extends Error {
  constructor(readonly expected: string) {
    super(expected);
  }
}

/**
 * The longest delay a node timer honours (2^31-1 ms, about 24.8 days); a longer one fires after 1 ms. Every duration
 * is checked against it.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** The most workers one supervisor runs. */
export const MAX_WORKERS = 1024;

const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m)?$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000 } as const;

/**
 * Parses a duration: `500ms`, `30s`, `2m`, or a plain number of milliseconds (a number or its text).
 * `option` names the flag in the error.
 */
export function parseDuration(value: string | number, option = 'duration'): number {
  const expected = `a duration like 500ms, 30s, 2m or a number of milliseconds, at most ${MAX_TIMER_MS}ms (about 24.8 days)`;
  let milliseconds: number;
  if (typeof value === 'number') {
    milliseconds = Math.round(value);
  } else {
    const match = typeof value === 'string' ? DURATION_PATTERN.exec(value.trim()) : null;
    if (!match) throw new InvalidOptionError(option, expected, value);
    const unit = (match[2] ?? 'ms') as keyof typeof UNIT_MS;
    milliseconds = Math.round(Number(match[1]) * UNIT_MS[unit]);
  }
  if (!Number.isFinite(milliseconds) || milliseconds < 0 || milliseconds > MAX_TIMER_MS) {
    throw new InvalidOptionError(option, expected, value);
  }
  return milliseconds;
}

const DURATION = 'a duration: milliseconds as a number, or a string like "500ms", "30s", "2m"';

/** Milliseconds from a number or a duration string, at most MAX_TIMER_MS and more than `than` when given. */
export function duration(more: { than?: number; why?: string } = {}) {
  return (value: unknown): number => {
    let milliseconds: number;
    try {
      if (typeof value !== 'number' && typeof value !== 'string') throw new InvalidValue(DURATION);
      milliseconds = parseDuration(value);
    } catch (error) {
      if (error instanceof InvalidOptionError) throw new InvalidValue(`${DURATION}, at most ${MAX_TIMER_MS}ms`);
      throw error;
    }
    if (more.than !== undefined && milliseconds <= more.than) throw new InvalidValue(`${DURATION}, more than ${more.why ?? `${more.than}ms`}`);
    return milliseconds;
  };
}

/**
 * Milliseconds the supervisor wrote into a worker's environment (`ZDT_DRAIN_TIMEOUT_MS`): the decimal text of a whole
 * number from 0 to MAX_TIMER_MS, as the supervisor writes it. Undefined when absent or not such a number.
 */
export function readEnvMilliseconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  const milliseconds = Number(value);
  return milliseconds <= MAX_TIMER_MS ? milliseconds : undefined;
}

export function text(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidValue('a non-empty string');
  return value;
}

export function maxWorkers(): number {
  return Math.min(MAX_WORKERS, availableParallelism());
}

/** A whole number from 1 to 1024, or "max" (the available parallelism). */
export function parseWorkerCount(value: unknown): number {
  if (value === 'max') return maxWorkers();
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > MAX_WORKERS) {
    throw new InvalidValue(`a whole number from 1 to ${MAX_WORKERS}, or "max"`);
  }
  return number;
}

/** A whole number from `min` to `max` (a flag's digits are turned into a number before). */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: unknown): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new InvalidValue(max === Number.MAX_SAFE_INTEGER ? `a whole number from ${min} up` : `a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

/** `512`, `512M`, `512MB`, `1.5G`: MiB unless the suffix says GiB; a number is MiB. */
export function parseMemory(value: unknown): number {
  const expected = 'a size like "512M" or "1.5G", or a number of MiB, more than 0';
  let amount = Number.NaN;
  if (typeof value === 'number') amount = value;
  else if (typeof value === 'string') {
    const match = /^(\d+(?:\.\d+)?)\s*(m|mb|mib|g|gb|gib)?$/i.exec(value.trim());
    if (match) amount = Number(match[1]) * (/^g/i.test(match[2] ?? '') ? 1024 : 1);
  }
  if (!Number.isFinite(amount) || !(amount > 0) || amount > 1024 * 1024) throw new InvalidValue(expected);
  return amount;
}

/** One of the given words. */
export function oneOf<const Word extends string>(...words: Word[]) {
  return (value: unknown): Word => {
    if (!words.includes(value as Word)) throw new InvalidValue(words.map((word) => `"${word}"`).join(' or '));
    return value as Word;
  };
}

export function boolean(value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidValue('true or false');
  return value;
}

const ADDRESS_EXPECTED = 'HOST:PORT, such as 127.0.0.1:9464 or [::1]:9464 (port 0 to 65535)';

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (loopback); port 0 to 65535. */
export function parseListenAddress(value: unknown, option = 'metrics'): { host: string; port: number } {
  const address = typeof value === 'string' ? hostAndPort(value) : undefined;
  if (!address) throw new InvalidOptionError(option, ADDRESS_EXPECTED, value);
  return address;
}

function hostAndPort(value: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65_535) return undefined;
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/** A HOST:PORT setting, kept as the text given (the metrics address). */
export function listenAddress(value: unknown): string {
  if (typeof value !== 'string' || !hostAndPort(value)) throw new InvalidValue(ADDRESS_EXPECTED);
  return value;
}

/** Variables as strings; numbers and booleans are written as text (PORT: 3000), as PM2 does. */
export function environment(value: unknown): Record<string, string> {
  const expected = 'an object of strings (numbers and booleans are turned into text)';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidValue(expected);
  const env: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') {
      throw new InvalidValue(`${expected}; "${key}" is not one`);
    }
    env[key] = String(item);
  }
  return env;
}

/**
 * Splits a command-line string the way a shell would for simple cases: whitespace separates, '…' is literal, "…"
 * and a backslash escape. Undefined when a quote is left open.
 */
export function splitArguments(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (char === "'") {
      const end = line.indexOf("'", index + 1);
      if (end < 0) return undefined;
      word += line.slice(index + 1, end);
      index = end;
    } else if (char === '"') {
      let closed = false;
      for (index++; index < line.length; index++) {
        const inner = line[index]!;
        if (inner === '"') {
          closed = true;
          break;
        }
        if (inner === '\\' && index + 1 < line.length) word += line[++index];
        else word += inner;
      }
      if (!closed) return undefined;
    } else if (char === '\\' && index + 1 < line.length) {
      word += line[++index];
    } else {
      word += char;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** An array of strings, or one string split like a command line ("--a 1 --b 2"). */
export function argumentList(value: unknown): string[] {
  const expected = 'an array of strings, or one string of space-separated arguments';
  if (typeof value === 'string') {
    const words = splitArguments(value);
    if (!words) throw new InvalidValue(`${expected} (a quote is left open)`);
    return words;
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new InvalidValue(expected);
  return [...value];
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Runs one key's reader; a bad value becomes a ConfigError naming the key and the file. */
export function readKey<Result>(file: string, key: string, value: unknown, read: () => Result): Result {
  try {
    return read();
  } catch (error) {
    if (error instanceof InvalidValue) throw new ConfigError(file, key, `expected ${error.expected}`, { received: value });
    throw error;
  }
}

/** A value read by a settings-table parser; what it does not fit is an InvalidOptionError naming the option. */
export function readOption<Value>(option: string, value: unknown, parse: (value: unknown) => Value): Value {
  try {
    return parse(value);
  } catch (error) {
    if (error instanceof InvalidValue) throw new InvalidOptionError(option, error.expected, value);
    throw error;
  }
}
