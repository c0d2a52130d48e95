import { describe, expect, it } from 'vitest';
import { copyFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { get, isAlive, zdt, zdtStart } from '@zero-downtime/testkit';
import { loadConfiguration } from '../src/config.js';
import { fixture, testContext } from './helpers.js';

const { scratchDirectory } = testContext();

function appDirectory(): string {
  const dir = scratchDirectory();
  copyFileSync(fixture('env-app.cjs'), path.join(dir, 'app.cjs'));
  return dir;
}

/** The shape of PM2's documented ecosystem.config.js, with the fields PM2 users set most. */
const ECOSYSTEM = `module.exports = {
  apps: [
    {
      name: 'api',
      script: './app.cjs',
      instances: 2,
      exec_mode: 'cluster',
      args: 'serve --verbose',
      node_args: '--max-old-space-size=200',
      wait_ready: true,
      listen_timeout: 10000,
      kill_timeout: 4000,
      max_memory_restart: '300M',
      watch: true,
      ignore_watch: ['node_modules'],
      out_file: './logs/out.log',
      error_file: './logs/err.log',
      merge_logs: true,
      autorestart: true,
      env: {
        NODE_ENV: 'development',
        APP_DATABASE: 'db.internal',
      },
      env_production: {
        NODE_ENV: 'production',
      },
    },
    {
      name: 'mailer',
      script: './mailer.js',
    },
  ],
};
`;

describe('PM2 ecosystem files', () => {
  it("starts the app of an ecosystem file from PM2's docs: instances, env_production over env, args, node_args, wait_ready; each ignored field is warned about once", async () => {
    const dir = appDirectory();
    const file = path.join(dir, 'ecosystem.config.js');
    writeFileSync(file, ECOSYSTEM);
    const control = path.join(dir, 'control.sock');
    const running = zdtStart(['ecosystem.config.js', '--only', 'api', '--env', 'production', '--control', control], { cwd: dir });
    await running.waitForLine(/supervisor pid \d+ running/);

    const status = JSON.parse((await zdt(['status', '--json', '--control', control])).stdout) as {
      workersWanted: number;
      workers: unknown[];
      app: { name: string; config: string };
    };
    expect(status.workersWanted).toBe(2);
    expect(status.workers).toHaveLength(2);
    expect(status.app).toEqual({ name: 'api', config: file });
    const answer = JSON.parse((await get(running.port(), '/env')).body) as { env: Record<string, string>; args: string[]; execArgv: string[] };
    expect(answer.env).toMatchObject({
      NODE_ENV: 'production',
      APP_DATABASE: 'db.internal',
      // wait_ready: the app's process.send('ready') is what makes it ready; kill_timeout is the drain time.
      ZDT_READINESS: 'message',
      ZDT_DRAIN_TIMEOUT_MS: '4000',
    });
    expect(answer.args).toEqual(['serve', '--verbose']);
    expect(answer.execArgv).toEqual(['--max-old-space-size=200']);

    const ignored = ['watch', 'ignore_watch', 'out_file', 'error_file', 'merge_logs', 'autorestart'];
    const warnings = () => running.output.filter((line) => / warn +.*apps\[0\]\.\w+ ignored: /.test(line));
    expect(warnings().map((line) => /apps\[0\]\.(\w+) ignored/.exec(line)?.[1]).sort()).toEqual([...ignored].sort());
    expect(warnings().find((line) => line.includes('apps[0].watch'))).toMatch(/zdt does not watch files/);
    expect(warnings().find((line) => line.includes('apps[0].out_file'))).toMatch(/stdout\/stderr/);
    // Mapped fields are never warned about.
    expect(running.output.filter((line) => /apps\[0\]\.(instances|exec_mode|env|node_args|wait_ready|kill_timeout|max_memory_restart|listen_timeout)/.test(line))).toEqual([]);

    // A reload reads the file again, and does not repeat the warnings.
    const reload = await zdt(['reload', '--control', control]);
    expect(reload.code, reload.stderr).toBe(0);
    expect(warnings()).toHaveLength(ignored.length);

    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
  });

  it('with several apps, exits 2 listing their names unless --only picks one; an unknown app or env name exits 2', async () => {
    const dir = appDirectory();
    writeFileSync(path.join(dir, 'ecosystem.config.js'), ECOSYSTEM);
    const control = path.join(dir, 'control.sock');
    const cases: Array<[string[], RegExp]> = [
      [[], /ERR_ZDT_USAGE: .*ecosystem\.config\.js has 2 apps \(api, mailer\); one supervisor runs one app: pick it with --only <name>/],
      [['--only', 'web'], /ERR_ZDT_USAGE: --only "web": no such app in .*ecosystem\.config\.js; its apps: api, mailer/],
      [['--only', 'api,mailer'], /ERR_ZDT_USAGE: --only "api,mailer": one supervisor runs one app/],
      [['--only', 'api', '--env', 'staging'], /ERR_ZDT_USAGE: --env staging: app "api" in .*ecosystem\.config\.js has no env_staging \(it has env_production\)/],
    ];
    for (const [flags, message] of cases) {
      const result = await zdt(['start', 'ecosystem.config.js', ...flags, '--control', control], { cwd: dir });
      expect(result.code, flags.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).not.toMatch(/forked/);
    }

    // --only picks the second app: its script is missing, which is named as such.
    const mailer = await zdt(['start', 'ecosystem.config.js', '--only', 'mailer', '--control', control], { cwd: dir });
    expect(mailer.code).toBe(2);
    expect(mailer.stderr).toMatch(/ERR_ZDT_ENTRY_NOT_FOUND: .*mailer\.js/);
  });

  it('maps PM2 values as PM2 means them, and takes none of its defaults', async () => {
    const dir = appDirectory();
    const cpus = os.availableParallelism();
    const load = async (app: Record<string, unknown>, name = 'ecosystem.config.js') => {
      const file = path.join(dir, name);
      writeFileSync(file, name.endsWith('.json') ? JSON.stringify({ apps: [app] }) : `module.exports = ${JSON.stringify({ apps: [app] })};\n`);
      return (await loadConfiguration(file)).settings;
    };
    const script = './app.cjs';
    expect((await load({ script })).workers).toBe(1);
    expect((await load({ script, instances: 'max' })).workers).toBe(cpus);
    expect((await load({ script, instances: 0 })).workers).toBe(cpus);
    expect((await load({ script, instances: -1 })).workers).toBe(Math.max(1, cpus - 1));
    expect((await load({ script, instances: '3' })).workers).toBe(3);
    expect((await load({ script, max_memory_restart: '300M' })).maxMemoryMb).toBe(300);
    expect((await load({ script, max_memory_restart: '1G' })).maxMemoryMb).toBe(1024);
    expect((await load({ script, max_memory_restart: 524_288_000 })).maxMemoryMb).toBe(500);
    expect((await load({ script, kill_timeout: 1600, listen_timeout: 8000 })).drainTimeoutMs).toBe(1600);
    expect((await load({ script, listen_timeout: 8000 })).readyTimeoutMs).toBe(8000);
    expect(await load({ script })).toEqual({ entry: script, workers: 1 });
    expect((await load({ script, wait_ready: false })).readiness).toBeUndefined();
    expect((await load({ script, wait_ready: true })).readiness).toBe('message');
    expect((await load({ script, wait_ready: 'http:/healthz' })).readiness).toBe('http:/healthz');
    expect(await load({ script, args: ['a b', 'c'], node_args: ['--inspect=0'], interpreter_args: '--no-warnings', port: 8080, env: { PORT: 1, DEBUG: true } })).toMatchObject({
      args: ['a b', 'c'],
      execArgv: ['--inspect=0', '--no-warnings'],
      env: { PORT: '8080', DEBUG: 'true' },
    });
    expect(await load({ script, cwd: 'srv' }, 'ecosystem.config.json')).toMatchObject({ cwd: path.join(dir, 'srv'), entry: script });

    await expect(load({ script, instances: 'many' })).rejects.toMatchObject({
      code: 'ERR_ZDT_CONFIG',
      file: path.join(dir, 'ecosystem.config.js'),
      key: 'apps[0].instances',
      received: 'many',
    });
    await expect(load({ script, kill_timeout: '36000m' })).rejects.toMatchObject({ code: 'ERR_ZDT_CONFIG', key: 'apps[0].kill_timeout' });
    await expect(load({ script, wait_ready: 'healthz' })).rejects.toMatchObject({ code: 'ERR_ZDT_CONFIG', key: 'apps[0].wait_ready', received: 'healthz' });
    await expect(load({ name: 'no-script' })).rejects.toMatchObject({ code: 'ERR_ZDT_CONFIG', key: 'apps[0].script' });
  });
});
