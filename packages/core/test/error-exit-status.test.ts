/**
 * One exit-status policy: each error class carries the status `zdt` exits with (errors.ts), and the errors reference
 * (docs/reference/errors.md) states the same for every class it lists.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '@zero-downtime/core';

const table = readFileSync(new URL('../../../docs/reference/errors.md', import.meta.url), 'utf8');
const rows = [...table.matchAll(/^\| `(\w+Error)` \| `(ERR_ZDT_\w+)` \| .* \| (\d?) \|$/gm)];

describe('exit statuses', () => {
  it('the errors reference lists every exported error class', () => {
    const exported = Object.entries(core)
      .filter(([name, value]) => typeof value === 'function' && name.endsWith('Error') && name !== 'ZdtError')
      .map(([name]) => name)
      .sort();
    expect(rows.map((row) => row[1]).sort()).toEqual(exported);
  });

  for (const [, name, , status] of rows) {
    it(`${name}: the docs' exit status is the one the class carries`, () => {
      const ErrorClass = (core as unknown as Record<string, { prototype: { exitStatus: number } }>)[name!]!;
      const carried = Object.create(ErrorClass.prototype) as { exitStatus: number };
      expect(carried.exitStatus).toBe(status === '' ? 1 : Number(status));
      expect(core.exitStatusOf(carried)).toBe(carried.exitStatus);
    });
  }

  it('an error from elsewhere exits 1', () => {
    expect(core.exitStatusOf(new Error('elsewhere'))).toBe(1);
  });
});
