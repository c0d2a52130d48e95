/**
 * `zdt start` loads only what it runs: `zdt verify` and its load clients live in @zero-downtime/verify, which the
 * CLI loads for `zdt verify` alone. Checked on the bundle (no source of verify, its load clients or ws in
 * dist/cli.cjs) and on a running supervisor (the modules its process loaded, recorded at exit).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { zdt, zdtStart } from '@zero-downtime/testkit';
import { fixture, testContext } from './helpers.js';

const context = testContext();
const { scratchDirectory } = context;
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
/** What belongs to `zdt verify`: its package (by name or by its workspace folder) and the WebSocket library it uses. */
const VERIFY_CODE = /@zero-downtime[\\/]verify|packages[\\/]verify[\\/]|[\\/]ws[\\/]|[\\/]load[\\/]/;

/** Runs `work` with every process preloading the recorder; returns the modules each process loaded, by pid. */
async function loadedModules(work: (env: Record<string, string>) => Promise<void>): Promise<Map<number, string[]>> {
  const directory = scratchDirectory();
  const env = { NODE_OPTIONS: `--require ${fixture('record-modules.cjs')}`, ZDT_TEST_MODULES_DIR: directory };
  await work(env);
  const files = readdirSync(directory).filter((name) => /^\d+\.json$/.test(name));
  return new Map(files.map((name) => [Number.parseInt(name, 10), JSON.parse(readFileSync(path.join(directory, name), 'utf8')) as string[]]));
}

describe('zdt start loads only what it runs', () => {
  it('dist/cli.cjs bundles no source of @zero-downtime/verify, its load clients or ws', () => {
    const { sources } = JSON.parse(readFileSync(path.join(dist, 'cli.cjs.map'), 'utf8')) as { sources: string[] };
    expect(sources.some((source) => source.endsWith('src/cli/start.ts'))).toBe(true);
    expect(sources.filter((source) => VERIFY_CODE.test(source))).toEqual([]);
  });

  it('the supervisor never loads @zero-downtime/verify; `zdt verify` does', async () => {
    let supervisorPid = 0;
    const started = await loadedModules(async (env) => {
      const control = path.join(scratchDirectory(), 'control.sock');
      const running = zdtStart([fixture('app.cjs'), '--workers', '1', '--control', control], { env });
      await running.waitForLine(/supervisor pid \d+ running/);
      supervisorPid = running.pid!;
      expect((await zdt(['stop', '--control', control])).code).toBe(0);
      expect(await running.exited).toEqual({ code: 0, signal: null });
    });
    const supervisor = started.get(supervisorPid);
    expect(supervisor, `the recorder wrote the supervisor's modules (pids: ${[...started.keys()].join(', ')})`).toBeDefined();
    expect(supervisor).toContain(path.join(dist, 'cli.cjs'));
    expect(supervisor!.filter((module) => VERIFY_CODE.test(module))).toEqual([]);

    // The same recorder sees verify when `zdt verify` runs: the check above would catch it in `zdt start`.
    const verifying = await loadedModules(async (env) => {
      expect((await zdt(['verify', '--help'], { env })).code).toBe(0);
    });
    expect([...verifying.values()].flat().filter((module) => /verify[\\/]dist[\\/]index\.cjs$/.test(module))).toHaveLength(1);
  });
});
