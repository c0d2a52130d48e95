/** The house limits hold: no source file of a package (src) or of the bench above 400 lines, no function above 80 (scripts/code-size.mjs). */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { run } from '@zero-downtime/testkit';

it('no source file above 400 lines and no function above 80', async () => {
  const script = fileURLToPath(new URL('../scripts/code-size.mjs', import.meta.url));
  const result = await run(process.execPath, [script], { timeoutMs: 60_000 });
  expect(result.stdout).toMatch(/^0 file\(s\) and 0 function\(s\) over the limits$/m);
  expect(result.code).toBe(0);
});
