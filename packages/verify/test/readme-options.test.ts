/**
 * The README's options table and `zdt verify --help` list the same flags of verify's own (the `zdt start` flags it
 * passes on are listed by the help alone).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HELP } from '../src/args.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('packages/verify/README.md', () => {
  it('its options table has every flag of verify --help, and no other', () => {
    const ownHelp = HELP.slice(0, HELP.indexOf("'zdt start' flags passed on"));
    const helpFlags = [...ownHelp.matchAll(/^ {2}(--[a-z-]+)/gm)].map((match) => match[1]!);
    const table = readme.slice(readme.indexOf('## Options'), readme.indexOf('## Errors'));
    const readmeFlags = [...table.matchAll(/^\| `(--[a-z-]+)/gm)].map((match) => match[1]!);
    expect(helpFlags.length).toBeGreaterThan(10);
    expect(readmeFlags.sort()).toEqual(helpFlags.sort());
  });
});
