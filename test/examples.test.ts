/**
 * The examples users copy, run the way their READMEs say: `zdt start` in the
 * example's folder, keep-alive clients sending GET and POST whose echoes are
 * verified, one `zdt reload`: zero failed requests, every worker pid replaced,
 * the database-style cleanup run in every old worker, and `zdt stop` leaves
 * nothing running. So the examples cannot rot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startLoad } from '../bench/lib/load.mjs';
import { childrenOf, freePort, isAlive, killTree, waitFor, waitForExit, waitForHttp } from '../bench/lib/procs.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = path.join(root, 'packages', 'core', 'dist', 'cli.cjs');

const examples = [
  { name: 'express', entry: 'app.mjs' },
  { name: 'fastify', entry: 'app.mjs' },
  { name: 'nest', entry: 'main.mjs' },
];

const started: ChildProcess[] = [];
const scratch: string[] = [];

afterEach(() => {
  for (const child of started.splice(0)) if (child.pid && isAlive(child.pid)) killTree(child.pid, 'SIGKILL');
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function zdt(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const child = spawn(process.execPath, [cli, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

for (const { name, entry } of examples) describe(`examples/${name}`, () => {
  it('reloads under zdt with zero failed requests and every worker replaced', async () => {
    const cwd = path.join(root, 'examples', name);
    const dir = mkdtempSync(path.join(tmpdir(), `zdt-example-${name}-`));
    scratch.push(dir);
    const control = path.join(dir, 'zdt.sock');
    const port = await freePort();
    const supervisor = zdt(['start', entry, '--workers', '2', '--control', control], { cwd, env: { PORT: String(port) } });
    // A supervisor that cannot start exits; fail with its output instead of waiting out the timeout.
    await Promise.race([
      waitForHttp(port, { timeoutMs: 60_000, path: '/echo?v=up' }),
      supervisor.exited.then((code) => {
        throw new Error(`zdt start exited with ${code}:\n${supervisor.output()}`);
      }),
    ]);
    const before = childrenOf(supervisor.child.pid!);
    expect(before).toHaveLength(2);

    const load = startLoad({ port, clients: 8, durationMs: 90_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const reload = zdt(['reload', '--control', control], { cwd });
    const reloadCode = await reload.exited;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const result = await load.stop();

    expect(reloadCode, reload.output()).toBe(0);
    expect(result.reasons).toEqual({});
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(0);
    const after = childrenOf(supervisor.child.pid!);
    expect(after).toHaveLength(2);
    expect(after.filter((pid) => before.includes(pid))).toEqual([]);
    // The example's database-style cleanup ran in every replaced worker (its line comes through zdt's output).
    for (const pid of before) {
      await waitFor(() => supervisor.output().includes(`[worker ${pid}] database pool closed`), { timeoutMs: 15_000, what: `cleanup of ${pid}` });
    }

    const stop = zdt(['stop', '--control', control], { cwd });
    expect(await stop.exited, stop.output()).toBe(0);
    expect(await supervisor.exited, supervisor.output()).toBe(0);
    for (const pid of [...before, ...after]) expect(await waitForExit(pid, 15_000)).toBe(true);
  });
});
