/**
 * `zdt upgrade`, end to end: the supervisor itself replaced (a new zdt process, on another Node.js major and back)
 * under load, with the listening socket handed over, zero failed requests, and every worker and the supervisor's pid
 * replaced; a new supervisor that cannot take over (not Node at all, a configuration it refuses, never ready) leaves
 * the old one serving with zero failed requests; one upgrade at a time; SIGTERM during an upgrade stops both.
 *
 * The other Node.js major (22, or 24 when the suite itself runs on 22) comes from the npm registry (`npm install
 * node@22`), cached under os.tmpdir() so a second run does not download it again (the one scripts/test-matrix.mjs
 * installed is used when it is there).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cells, FULL, tier } from './lib/tier.js';
import { childrenOf, cleanUp, freePort, isAlive, run, startLoad, track, waitFor, waitForExit, zdt, zdtStart, type Load } from '@zero-downtime/testkit';

const OWN_MAJOR = Number(process.versions.node.split('.')[0]);
// The fast tier upgrades to this same Node binary (no download); the full tier alternates with another major.
const OTHER_MAJOR = FULL ? (OWN_MAJOR === 22 ? 24 : 22) : OWN_MAJOR;
const UPGRADES = tier(2, 3);
/** An unmodified app: it listens on PORT at 127.0.0.1, as it would without zdt. */
const APP = fileURLToPath(new URL('./fixtures/apps/plain.cjs', import.meta.url));
/** The same kind of app, which waits FIXTURE_BOOT_DELAY_MS before it listens on LISTEN_ON. */
const SLOW_APP = fileURLToPath(new URL('../packages/core/test/fixtures/listen-app.cjs', import.meta.url));
const ZDT = path.join(path.dirname(createRequire(import.meta.url).resolve('@zero-downtime/core/package.json')), 'bin', 'zdt.cjs');

const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-upgrade-'));
let directories = 0;
const figures: string[] = [];
let otherNode = '';

/** node@MAJOR from the npm registry, installed once into os.tmpdir() and reused; bounded in time. */
async function nodeBinary(major: number): Promise<string> {
  const works = async (binary: string) => existsSync(binary) && (await run(binary, ['--version'], { timeoutMs: 15_000 })).stdout.startsWith(`v${major}.`);
  const matrixCopy = fileURLToPath(new URL(`../node_modules/.cache/node-${major}/node_modules/node/bin/node`, import.meta.url));
  if (await works(matrixCopy)) return realpathSync(matrixCopy);
  const prefix = path.join(os.tmpdir(), `zdt-node-${major}`);
  const binary = path.join(prefix, 'node_modules', 'node', 'bin', 'node');
  if (await works(binary)) return realpathSync(binary);
  mkdirSync(prefix, { recursive: true });
  // npm's own settings only: under pnpm the environment carries pnpm's npm_config_*, which npm warns about.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_config_/i.test(key)));
  const installed = await run('npm', ['install', '--prefix', prefix, `node@${major}`, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: prefix,
    env,
    timeoutMs: 240_000,
  });
  if (!(await works(binary))) throw new Error(`could not install node@${major} into ${prefix} (npm exit ${installed.code}): ${installed.stderr}`);
  return realpathSync(binary);
}

beforeAll(async () => {
  otherNode = FULL ? await nodeBinary(OTHER_MAJOR) : realpathSync(process.execPath);
}, 300_000);
afterEach(() => cleanUp());
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\nzdt upgrade under load, 2 workers, 8 clients:\n${figures.join('\n')}`);
});

function directory(): string {
  const dir = path.join(scratch, String(++directories));
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

function script(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

interface Status {
  pid: number;
  node: string;
  workers: Array<{ id: number; pid: number; state: string }>;
  listeners: Array<{ address: string; origin: string }>;
  upgrade: { successorPid: number; committed: boolean } | null;
}

async function status(control: string): Promise<Status> {
  const result = await zdt(['status', '--json', '--control', control]);
  expect(result.code, result.stderr).toBe(0);
  const parsed = JSON.parse(result.stdout) as Status;
  track(parsed.pid, 'a supervisor');
  return parsed;
}

/** `zdt upgrade`; every new supervisor it names is tracked, so a failed run leaves nothing behind. */
async function upgrade(control: string, ...args: string[]) {
  const result = await zdt(['upgrade', '--control', control, ...args]);
  for (const match of result.stdout.matchAll(/new supervisor pid (\d+)/g)) track(Number(match[1]), 'a new supervisor');
  return result;
}

/** The Node.js binary a process runs. */
const executable = (pid: number) => readlinkSync(`/proc/${pid}/exe`);

/** Requests sent and failed between two points of a load. */
function window(load: Load) {
  const start = load.progress();
  return () => {
    const end = load.progress();
    return { sent: end.sent - start.sent, failed: end.failed - start.failed };
  };
}

describe.each(
  cells(
    [
      { keepAlive: true, connections: 'keep-alive' },
      { keepAlive: false, connections: 'a connection per request' },
    ],
    (cell) => cell.keepAlive,
  ),
)('zdt upgrade under load, $connections', ({ keepAlive, connections }) => {
  it(`${UPGRADES} upgrades in a row, Node ${[OWN_MAJOR, OTHER_MAJOR, OWN_MAJOR, OTHER_MAJOR].slice(0, UPGRADES + 1).join(' -> ')}: zero failed requests, every worker and the supervisor replaced`, async () => {
    const dir = directory();
    const control = path.join(dir, 'control.sock');
    const pidFile = path.join(dir, 'zdt.pid');
    const port = await freePort();
    const running = zdtStart([APP, '--workers', '2', '--listen', `127.0.0.1:${port}`, '--control', control, '--pid-file', pidFile, '--drain-timeout', '10s'], {
      env: { PORT: String(port) },
    });
    await running.waitForLine(/supervisor pid \d+ running/);
    const load = startLoad({ port, clients: 8, keepAlive, durationMs: 200_000 });
    await load.waitForRequests(200);
    let before = await status(control);
    const allWorkers = new Set(before.workers.map((worker) => worker.pid));
    const thisNode = realpathSync(process.execPath);
    const versions: string[] = [process.version];
    for (const [index, node] of [otherNode, thisNode, otherNode].slice(0, UPGRADES).entries()) {
      const measured = window(load);
      const result = await upgrade(control, '--node', node);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      const after = await status(control);
      versions.push(after.node);
      const nodes = before.node === after.node ? `node ${after.node}` : `node ${before.node} -> ${after.node}`;
      expect(result.stdout).toContain(`upgrade done: supervisor pid ${before.pid} -> ${after.pid}, ${nodes}`);
      expect(after.pid).not.toBe(before.pid);
      if (index === 1) expect(after.node).toBe(process.version);
      else expect(after.node.startsWith(`v${OTHER_MAJOR}.`)).toBe(true);
      expect(executable(after.pid)).toBe(node);
      expect(after.listeners).toEqual([{ address: `127.0.0.1:${port}`, fd: expect.any(Number), origin: 'inherited' }]);
      expect(readFileSync(pidFile, 'utf8')).toBe(`${after.pid}\n`);
      // The old supervisor and every old worker are gone; every new worker is new, ready and on the new Node.js.
      expect(await waitForExit(before.pid, 30_000)).toBe(true);
      expect(before.workers.map((worker) => worker.pid).filter(isAlive)).toEqual([]);
      expect(after.workers.map((worker) => worker.state)).toEqual(['ready', 'ready']);
      for (const worker of after.workers) {
        expect(allWorkers.has(worker.pid)).toBe(false);
        allWorkers.add(worker.pid);
        expect(executable(worker.pid)).toBe(node);
      }
      if (index === 0) expect(await running.exited).toEqual({ code: 0, signal: null });
      await load.waitForRequests(200);
      const { sent, failed } = measured();
      figures.push(`${connections} | upgrade ${index + 1}: ${before.node} -> ${after.node} (supervisor pid ${before.pid} -> ${after.pid}) | sent ${sent} | failed ${failed}`);
      before = after;
    }
    const summary = await load.stop();
    figures.push(`${connections} | ${UPGRADES} upgrades, node ${versions.join(' -> ')} | sent ${summary.sent} | failed ${summary.failed}`);
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    // Answered by every generation of workers, the last one included.
    expect(before.workers.some((worker) => summary.pids.has(worker.pid))).toBe(true);

    const stop = await zdt(['stop', '--control', control]);
    expect(stop.code, stop.stderr).toBe(0);
    expect(await waitForExit(before.pid, 30_000)).toBe(true);
    expect(before.workers.map((worker) => worker.pid).filter(isAlive)).toEqual([]);
    expect(existsSync(pidFile)).toBe(false);
    expect(existsSync(control)).toBe(false);
  });
});

describe('zdt upgrade that cannot take over', () => {
  it('a new supervisor that is not Node, refuses its configuration or is never ready is stopped; the old one keeps serving with zero failed requests', async () => {
    const dir = directory();
    const control = path.join(dir, 'control.sock');
    const pidFile = path.join(dir, 'zdt.pid');
    const port = await freePort();
    const configFile = path.join(dir, 'zdt.config.json');
    const configuration = { entry: APP, workers: 2, listen: `127.0.0.1:${port}`, control: 'control.sock', pidFile: 'zdt.pid', env: { PORT: String(port) } };
    writeFileSync(configFile, JSON.stringify(configuration));
    const running = zdtStart(['--config', configFile], { cwd: dir });
    await running.waitForLine(/supervisor pid \d+ running/);
    const load = startLoad({ port, clients: 8, keepAlive: false, durationMs: 120_000 });
    await load.waitForRequests(200);
    const before = await status(control);

    const notNode = script(dir, 'not-node', 'echo "this is not node" >&2\nexit 1');
    const neverReady = script(dir, 'never-ready', 'exec sleep 600');
    const attempts: Array<{ what: string; args: string[]; breakConfig?: boolean; message: RegExp }> = [
      { what: '--node is a script that exits 1', args: ['--node', notNode], message: /the new supervisor \(pid \d+\) exited with code 1 before it was ready/ },
      {
        what: 'the configuration no longer validates',
        args: [],
        breakConfig: true,
        message: /the new supervisor \(pid \d+\) failed: ERR_ZDT_CONFIG: Invalid configuration .*zdt\.config\.json: "drainTimeout": expected a duration.*received "soon"/,
      },
      { what: 'the new supervisor is never ready', args: ['--node', neverReady, '--timeout', '2s'], message: /the new supervisor \(pid \d+\) was not ready within 2000ms/ },
    ];
    for (const attempt of attempts) {
      if (attempt.breakConfig) writeFileSync(configFile, JSON.stringify({ ...configuration, drainTimeout: 'soon' }));
      const measured = window(load);
      const result = await upgrade(control, ...attempt.args);
      if (attempt.breakConfig) writeFileSync(configFile, JSON.stringify(configuration));
      expect(result.code, result.stdout).toBe(1);
      expect(result.stderr).toMatch(/^zdt: ERR_ZDT_UPGRADE_FAILED: Upgrade failed: /);
      expect(result.stderr).toMatch(attempt.message);
      expect(result.stderr).toContain(`; supervisor pid ${before.pid} and its workers keep serving`);
      const successor = Number(/new supervisor pid (\d+)/.exec(result.stdout)?.[1]);
      expect(successor).toBeGreaterThan(0);
      expect(isAlive(successor)).toBe(false);
      // Nothing of it is left: no temporary control socket, the PID file and the control path are the old one's.
      expect(readdirSync(dir).filter((name) => name.startsWith('.zdt-'))).toEqual([]);
      expect(readFileSync(pidFile, 'utf8')).toBe(`${before.pid}\n`);
      const after = await status(control);
      expect(after.pid).toBe(before.pid);
      expect(after.upgrade).toBeNull();
      expect(after.workers.map((worker) => worker.pid)).toEqual(before.workers.map((worker) => worker.pid));
      await load.waitForRequests(100);
      const { sent, failed } = measured();
      figures.push(`refused upgrade (${attempt.what}) | sent ${sent} | failed ${failed}`);
    }
    const summary = await load.stop();
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(pidFile)).toBe(false);
  });
});

describe('one upgrade at a time', () => {
  /** `--node` for a new supervisor whose workers take 3 s to listen: the upgrade stays under way that long. */
  const slowNode = (dir: string) => script(dir, 'slow-node', `export FIXTURE_BOOT_DELAY_MS=3000\nexec "${process.execPath}" "$@"`);

  async function startSlowApp(dir: string) {
    const control = path.join(dir, 'control.sock');
    const pidFile = path.join(dir, 'zdt.pid');
    const port = await freePort();
    const running = zdtStart([SLOW_APP, '--workers', '2', '--listen', `127.0.0.1:${port}`, '--control', control, '--pid-file', pidFile], {
      env: { LISTEN_ON: String(port) },
    });
    await running.waitForLine(/supervisor pid \d+ running/);
    return { running, control, pidFile, port };
  }

  it('a second upgrade, a reload and a scale during an upgrade are refused with ERR_ZDT_UPGRADE_IN_PROGRESS; the first one completes', async () => {
    const dir = directory();
    const { running, control } = await startSlowApp(dir);
    const before = await status(control);
    const first = upgrade(control, '--node', slowNode(dir));
    const under = await waitFor(async () => (await status(control)).upgrade, 'the upgrade to be under way');
    const second = await upgrade(control);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`ERR_ZDT_UPGRADE_IN_PROGRESS: Cannot upgrade: an upgrade to a new supervisor \\(pid ${under.successorPid}\\) is under way`));
    for (const [command, args] of [
      ['reload', []],
      ['scale', ['3']],
    ] as const) {
      const refused = await zdt([command, ...args, '--control', control]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`ERR_ZDT_UPGRADE_IN_PROGRESS: Cannot ${command}: an upgrade`));
    }
    const done = await first;
    expect(done.code, done.stderr).toBe(0);
    const after = await status(control);
    expect(after.pid).toBe(under.successorPid);
    expect(after.workers).toHaveLength(2);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(before.workers.map((worker) => worker.pid).filter(isAlive)).toEqual([]);
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await waitForExit(after.pid, 20_000)).toBe(true);
  });

  it('SIGTERM to the old supervisor during an upgrade stops both cleanly: every process gone, the control socket and the PID file removed', async () => {
    const dir = directory();
    const { running, control, pidFile } = await startSlowApp(dir);
    const before = await status(control);
    const pending = upgrade(control, '--node', slowNode(dir));
    const { successorPid } = await waitFor(async () => (await status(control)).upgrade, 'the upgrade to be under way');
    // Its workers are forked and booting when the stop comes.
    const newWorkers = await waitFor(() => (childrenOf(successorPid).length >= 2 ? childrenOf(successorPid) : undefined), 'the new workers');
    for (const pid of newWorkers) track(pid, 'a worker of the new supervisor');
    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    const answer = await pending;
    expect(answer.code).toBe(1);
    expect(answer.stderr).toMatch(/ERR_ZDT_UPGRADE_FAILED: Upgrade failed: .*; a stop was requested: both supervisors stopped/);
    expect(isAlive(successorPid)).toBe(false);
    expect([...before.workers.map((worker) => worker.pid), ...newWorkers].filter(isAlive)).toEqual([]);
    expect(existsSync(control)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
    expect(readdirSync(dir).filter((name) => name.startsWith('.zdt-'))).toEqual([]);
  });
});
