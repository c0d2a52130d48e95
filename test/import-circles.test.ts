/** No file of a package's src imports itself through other files (scripts/import-circles.mjs), and the check sees one. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { run } from '@zero-downtime/testkit';

const script = fileURLToPath(new URL('../scripts/import-circles.mjs', import.meta.url));
const scratch = mkdtempSync(path.join(tmpdir(), 'zdt-import-circles-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

it('no import circle in packages/*/src', async () => {
  const result = await run(process.execPath, [script], { timeoutMs: 60_000 });
  expect(result.stdout).toMatch(/^0 import circle\(s\) in \d+ files$/m);
  expect(result.code).toBe(0);
});

it('finds and prints a circle, type-only imports included', async () => {
  writeFileSync(path.join(scratch, 'a.ts'), "import { b } from './b.js';\nexport const a = () => b;\n");
  writeFileSync(path.join(scratch, 'b.ts'), "import type { C } from './c.js';\nexport const b: C = 1;\n");
  writeFileSync(path.join(scratch, 'c.ts'), "export type C = number;\nexport const load = () => import('./a.js');\n");
  writeFileSync(path.join(scratch, 'd.ts'), "import { a } from './a.js';\nexport const d = a;\n");
  const result = await run(process.execPath, [script, scratch], { timeoutMs: 60_000 });
  const files = ['a.ts', 'b.ts', 'c.ts', 'a.ts'].map((name) => path.relative(path.dirname(path.dirname(script)), path.join(scratch, name)));
  expect(result.stdout).toContain(`import circle: ${files.join(' -> ')}`);
  expect(result.stdout).toMatch(/^1 import circle\(s\) in 4 files$/m);
  expect(result.code).toBe(1);
});
