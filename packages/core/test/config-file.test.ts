import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { get, isAlive, waitFor, zdt, zdtStart } from '@zero-downtime/testkit';
import { fixture, testContext } from './helpers.js';

const { scratchDirectory } = testContext();

interface EnvAnswer {
  pid: number;
  workerId: string;
  generation: string;
  env: Record<string, string>;
  args: string[];
  execArgv: string[];
}

interface StatusJson {
  state: string;
  uptimeMs: number;
  workersWanted: number;
  app: { name: string; config: string | null };
  workers: Array<{ id: number; pid: number; cpuSeconds: number | undefined }>;
}

/** A private directory holding the app (a copy of env-app.cjs, so nothing above it names the app). */
function appDirectory(): string {
  const dir = scratchDirectory();
  copyFileSync(fixture('env-app.cjs'), path.join(dir, 'app.cjs'));
  return dir;
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

async function envOf(port: number): Promise<EnvAnswer> {
  return JSON.parse((await get(port, '/env')).body) as EnvAnswer;
}

async function statusOf(control: string): Promise<StatusJson> {
  const result = await zdt(['status', '--json', '--control', control]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as StatusJson;
}

describe('zdt start with a configuration file', () => {
  it('with no entry, runs the zdt.config.json of the working directory: workers, env, env file, args and node arguments', async () => {
    const dir = appDirectory();
    const control = path.join(dir, 'control.sock');
    writeFileSync(
      path.join(dir, '.env'),
      ['# settings for the tests', 'APP_PLAIN=plain value # a comment', 'export APP_QUOTED="a # kept"', "APP_LITERAL='no\\nescape'", ''].join('\n'),
    );
    const configFile = path.join(dir, 'zdt.config.json');
    writeJson(configFile, {
      entry: 'app.cjs',
      workers: 2,
      env: { APP_GREETING: 'hello', APP_COUNT: 3 },
      envFile: '.env',
      args: ['--flag', 'two words'],
      nodeArgs: '--max-old-space-size=200',
      readyTimeout: 10_000,
      drainTimeout: '5s',
      control: 'control.sock',
    });
    const running = zdtStart([], { cwd: dir });
    await running.waitForLine(/supervisor pid \d+ running/);

    const status = await statusOf(control);
    expect(status.workersWanted).toBe(2);
    expect(status.workers).toHaveLength(2);
    expect(status.app).toEqual({ name: 'app', config: configFile });
    expect(status.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(status.workers.every((worker) => typeof worker.cpuSeconds === 'number')).toBe(true);

    const answer = await envOf(running.port());
    expect(answer.env).toMatchObject({
      APP_GREETING: 'hello',
      APP_COUNT: '3',
      APP_PLAIN: 'plain value',
      APP_QUOTED: 'a # kept',
      APP_LITERAL: 'no\\nescape',
      ZDT_DRAIN_TIMEOUT_MS: '5000',
    });
    expect(answer.args).toEqual(['--flag', 'two words']);
    expect(answer.execArgv).toEqual(['--max-old-space-size=200']);

    const human = await zdt(['status', '--control', control]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`app app, configuration: ${configFile}`);
    expect(human.stdout).toMatch(/running, newest generation 0, 2\/2 worker process\(es\), up \d+s/);
    expect(human.stdout).toMatch(/ID {2}PID +GEN {2}STATE +UPTIME +RESTARTS {2}CPU +RSS/);
    expect(human.stdout).toMatch(/\n1 +\d+ +0 +ready +\d+s +0 +\d+\.\d\ds +[\d.]+ MiB/);

    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('finds the "zdt" field of package.json; flags win over it', async () => {
    const dir = appDirectory();
    const control = path.join(dir, 'control.sock');
    writeJson(path.join(dir, 'package.json'), {
      name: 'billing-api',
      private: true,
      zdt: { entry: 'app.cjs', workers: 2, env: { APP_GREETING: 'from package.json', APP_OTHER: 'kept' }, readyTimeout: '10s' },
    });
    const running = zdtStart(['--workers', '1', '--env', 'APP_GREETING=from the flag', '--control', control], { cwd: dir });
    await running.waitForLine(/supervisor pid \d+ running/);

    const status = await statusOf(control);
    expect(status.workersWanted).toBe(1);
    expect(status.app).toEqual({ name: 'billing-api', config: path.join(dir, 'package.json') });
    expect((await envOf(running.port())).env).toMatchObject({ APP_GREETING: 'from the flag', APP_OTHER: 'kept' });

    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('reads an ESM file named with --config (paths relative to it); --log-format json prints one JSON object per line', async () => {
    const dir = appDirectory();
    const elsewhere = path.join(dir, 'deploy');
    mkdirSync(elsewhere);
    const control = path.join(dir, 'control.sock');
    writeFileSync(
      path.join(elsewhere, 'settings.config.mjs'),
      "export default { name: 'esm-app', entry: '../app.cjs', workers: 1, logFormat: 'json', control: '../control.sock', env: { APP_FROM: 'esm' } };\n",
    );
    const running = zdtStart(['--config', 'deploy/settings.config.mjs'], { cwd: dir });
    await running.waitForLine(/supervisor pid \d+ running/);
    expect((await envOf(running.port())).env.APP_FROM).toBe('esm');
    expect((await statusOf(control)).app).toEqual({ name: 'esm-app', config: path.join(elsewhere, 'settings.config.mjs') });

    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    // Every line of the supervisor's log parses; a worker's lines carry its structured fields.
    const entries = running.output.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const entry of entries) {
      expect(Object.keys(entry).slice(0, 3)).toEqual(['time', 'level', 'msg']);
      expect(Number.isNaN(Date.parse(entry.time as string))).toBe(false);
    }
    const forked = entries.find((entry) => /^worker 1 forked/.test(entry.msg as string));
    expect(forked).toMatchObject({ level: 'info', workerId: 1, pid: running.workerPids()[0], generation: 0 });
    expect(entries.at(-1)).toMatchObject({ level: 'info', msg: 'supervisor stopped (exit 0)' });
  });

  it.each([
    ['an unknown key', 'zdt.config.json', { entry: 'app.cjs', wrokers: 2 }, /"wrokers": unknown key; the keys are name, entry, /],
    ['a duration that is not one', 'zdt.config.json', { entry: 'app.cjs', drainTimeout: 'soon' }, /"drainTimeout": expected a duration.*, received "soon"/],
    ['a duration beyond the timer range', 'zdt.config.json', { entry: 'app.cjs', readyTimeout: '36000m' }, /"readyTimeout": expected a duration.*at most 2147483647ms, received "36000m"/],
    ['a readiness probe without a path', 'zdt.config.json', { entry: 'app.cjs', ready: 'http:' }, /"ready": expected "listening", "message" or "http:PATH" .*, received "http:"/],
    ['workers 0', 'zdt.config.json', { entry: 'app.cjs', workers: 0 }, /"workers": expected a whole number from 1 to 1024, or "max", received 0/],
    ['a bad value in package.json', 'package.json', { name: 'x', zdt: { entry: 'app.cjs', maxMemory: 'lots' } }, /"zdt\.maxMemory": expected a size like "512M".*, received "lots"/],
    ['a metrics address without a port', 'zdt.config.json', { entry: 'app.cjs', metrics: 'localhost' }, /"metrics": expected HOST:PORT, .*received "localhost"/],
    ['a file that does not parse', 'zdt.config.json', '{ "entry": ', /cannot be loaded: /],
  ])('exits 2 with ERR_ZDT_CONFIG naming the key and the file for %s', async (_what, name, content, message) => {
    const dir = appDirectory();
    const file = path.join(dir, name);
    if (typeof content === 'string') writeFileSync(file, content);
    else writeJson(file, content);
    const result = await zdt(['start', '--control', path.join(dir, 'control.sock')], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`zdt: ERR_ZDT_CONFIG: Invalid configuration ${file}: `);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).not.toMatch(/forked/);
  });

  it('exits 2 naming the env file and the line of a line that is not KEY=value', async () => {
    const dir = appDirectory();
    writeFileSync(path.join(dir, 'production.env'), 'APP_ONE=1\nthis is not a variable\n');
    const result = await zdt(['start', 'app.cjs', '--env-file', 'production.env', '--control', path.join(dir, 'control.sock')], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`zdt: ERR_ZDT_CONFIG: Invalid configuration ${path.join(dir, 'production.env')}: "line 2": expected KEY=value`);
    expect(result.stdout).not.toMatch(/forked/);
  });

  it('exits 2 when there is neither an entry nor a configuration, or two configurations', async () => {
    const dir = appDirectory();
    const none = await zdt(['start', '--control', path.join(dir, 'control.sock')], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^zdt: ERR_ZDT_USAGE: missing <entry>: the app file to run \(or a zdt\.config\.js, .* in /);

    writeJson(path.join(dir, 'zdt.config.json'), { entry: 'app.cjs' });
    writeFileSync(path.join(dir, 'zdt.config.cjs'), "module.exports = { entry: 'app.cjs' };\n");
    const two = await zdt(['start', '--control', path.join(dir, 'control.sock')], { cwd: dir });
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/ERR_ZDT_CONFIG: .*more than one configuration: zdt\.config\.cjs, zdt\.config\.json; keep one, or name it with --config/);
  });

  it('zdt reload re-reads the file and the env file: the workers get the new env; a broken file fails the reload (exit 2) and changes nothing', async () => {
    const dir = appDirectory();
    const control = path.join(dir, 'control.sock');
    const configFile = path.join(dir, 'zdt.config.cjs');
    const writeConfig = (greeting: string) =>
      writeFileSync(configFile, `module.exports = ${JSON.stringify({ entry: 'app.cjs', workers: 2, envFile: 'app.env', env: { APP_GREETING: greeting }, control: 'control.sock' })};\n`);
    writeConfig('hello');
    writeFileSync(path.join(dir, 'app.env'), 'APP_RELEASE=one\nAPP_REMOVED=soon gone\n');
    const running = zdtStart([], { cwd: dir });
    await running.waitForLine(/supervisor pid \d+ running/);
    expect((await envOf(running.port())).env).toMatchObject({ APP_GREETING: 'hello', APP_RELEASE: 'one', APP_REMOVED: 'soon gone' });

    writeConfig('bonjour');
    writeFileSync(path.join(dir, 'app.env'), 'APP_RELEASE=two\n');
    const reload = await zdt(['reload', '--control', control]);
    expect(reload.stderr).toBe('');
    expect(reload.code).toBe(0);
    expect(reload.stdout).toMatch(/reload done: generation 1 serves on every worker/);
    const serving = (await statusOf(control)).workers.map((worker) => worker.pid);
    for (let request = 0; request < 6; request++) {
      const answer = await envOf(running.port());
      expect(serving).toContain(answer.pid);
      // The env is replaced, not merged: a variable gone from the env file is gone from the workers.
      expect(answer.env).toMatchObject({ APP_GREETING: 'bonjour', APP_RELEASE: 'two' });
      expect(answer.env).not.toHaveProperty('APP_REMOVED');
    }

    writeFileSync(configFile, 'module.exports = { entry: "app.cjs", workers: 2, envFile: "app.env", drainTimeout: "forever" };\n');
    const refused = await zdt(['reload', '--control', control]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`zdt: ERR_ZDT_CONFIG: Invalid configuration ${configFile}: "drainTimeout": expected a duration`);
    expect(refused.stdout).not.toMatch(/rollout of generation/);
    await running.waitForLine(/reload refused: ERR_ZDT_CONFIG: .*"drainTimeout".*; the workers keep running unchanged/);

    // SIGHUP reads the same broken file and is refused the same way.
    writeFileSync(configFile, 'module.exports = { entry: ');
    running.child.kill('SIGHUP');
    await running.waitForLine(/reload refused: ERR_ZDT_CONFIG: .*cannot be loaded/);

    const after = await statusOf(control);
    expect(after.workers.map((worker) => worker.pid)).toEqual(serving);
    expect(serving.every(isAlive)).toBe(true);
    for (let request = 0; request < 4; request++) {
      const answer = await envOf(running.port());
      expect(serving).toContain(answer.pid);
      expect(answer.env.APP_GREETING).toBe('bonjour');
    }
    expect(running.output.filter((line) => /rollout of generation 2/.test(line))).toEqual([]);

    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    await waitFor(() => running.workerPids().every((pid) => !isAlive(pid)), 'every worker to exit');
  });
});
