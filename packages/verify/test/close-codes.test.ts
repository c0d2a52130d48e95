/**
 * One list of the WebSocket close codes that end a connection properly (PROPER_CLOSE_CODES): `zdt verify --help` and
 * the docs name exactly those, as properCloseCodes() writes them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HELP } from '../src/args.js';
import { PROPER_CLOSE_CODES, properCloseCodes } from '../src/load/index.js';

const text = (file: string) => readFileSync(new URL(file, import.meta.url), 'utf8');
/** Every list of codes after "close frame" (across a line break and a help text's indent). */
const mentions = (source: string) => [...source.replace(/\s+/g, ' ').matchAll(/close frame ((?:\d{4}(?:, | or )?)+)/g)].map((match) => match[1]!.trim());

describe('the proper WebSocket close codes', () => {
  it('are written from the one list', () => {
    expect(properCloseCodes()).toBe(`${PROPER_CLOSE_CODES.slice(0, -1).join(', ')} or ${PROPER_CLOSE_CODES.at(-1)}`);
    expect(PROPER_CLOSE_CODES).toContain(1005);
  });

  it.each([
    ['zdt verify --help', HELP],
    ['docs/guides/verify-in-ci.md', text('../../../docs/guides/verify-in-ci.md')],
  ])('%s names them all', (_name, source) => {
    const found = mentions(source);
    expect(found.length).toBeGreaterThan(0);
    for (const list of found) expect(list).toBe(properCloseCodes());
  });
});
