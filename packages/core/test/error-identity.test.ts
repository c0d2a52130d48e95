import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanUp, run } from '@zero-downtime/testkit';

const packageDirectory = fileURLToPath(new URL('..', import.meta.url));

afterAll(cleanUp);

// Run in a process of its own on the built package, as an app would load it: the package's four module copies (the
// main entry and the worker entry, each as ESM and as CommonJS) side by side. An error one of them throws must be an
// instance of the class of that name exported by every other, or an app's `catch (e) { if (e instanceof ...) }`
// silently misses it.
const script = String.raw`
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/package.json');
const copies = {
  'import @zero-downtime/core': await import('@zero-downtime/core'),
  'import @zero-downtime/core/worker': await import('@zero-downtime/core/worker'),
  'require @zero-downtime/core': require('@zero-downtime/core'),
  'require @zero-downtime/core/worker': require('@zero-downtime/core/worker'),
};
function thrown(action) {
  try { action(); } catch (error) { return error; }
  throw new Error('nothing was thrown');
}
const errors = {};
for (const [from, copy] of Object.entries(copies)) {
  errors['InvalidOptionError from ' + from + (copy.configure ? ' configure()' : ' resolveOptions()')] = copy.configure
    ? thrown(() => copy.configure({ noSuchOption: true }))
    : thrown(() => copy.resolveOptions({ entry: 'app.js', workers: -1 }));
}
const verdicts = [];
for (const [which, error] of Object.entries(errors)) {
  for (const [from, copy] of Object.entries(copies)) {
    for (const name of ['ZdtError', 'InvalidOptionError']) {
      verdicts.push({ error: which, code: error.code, class: name + ' of ' + from, instance: error instanceof copy[name] });
    }
  }
}
process.stdout.write(JSON.stringify(verdicts));
process.exit(0);
`;

describe('error classes', () => {
  it('are one class per code, whichever entry and module format threw and whichever one is asked', async () => {
    const result = await run(process.execPath, ['--input-type=module', '--eval', script], {
      cwd: packageDirectory,
      env: { ...process.env, ZDT_SUPERVISED: '' },
      timeoutMs: 30_000,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const verdicts = JSON.parse(result.stdout) as Array<{ error: string; code: string; class: string; instance: boolean }>;
    // 4 errors (one per copy) x 4 copies x 2 classes.
    expect(verdicts).toHaveLength(32);
    for (const verdict of verdicts) expect(verdict).toEqual({ ...verdict, code: 'ERR_ZDT_INVALID_OPTION', instance: true });
  });
});
