/**
 * What users get is what is tested: the four publishable packages packed the way they are published (`pnpm pack`,
 * which turns `workspace:^` into real ranges), installed with npm into a scratch project outside the workspace
 * together with the newest Express 5, Fastify 5 and NestJS 12 from the registry, then one app per adapter run by the
 * installed `zdt start`, under load through a `zdt reload`. The same tarballs pass attw and publint. In fresh projects
 * of their own: @zero-downtime/core alone installs no other package, and @zero-downtime/verify, added as a
 * devDependency to the Express example's project, makes `npx zdt verify` pass on it.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import semver from 'semver';
import {
  childrenOf,
  cleanUp,
  freePort,
  get,
  run,
  startLoad,
  startProcess,
  track,
  waitForExit,
  waitForHttp,
  type RunResult,
} from '@zero-downtime/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['core', 'express', 'fastify', 'nest'] as const;
/** Every published package: the four above, installed together, and @zero-downtime/verify, a devDependency of its own. */
const PUBLISHED = [...PACKAGES, 'verify'] as const;
// The newest of each major, as a new user's `npm install express` etc. gets them.
const FRAMEWORKS = [
  'express@5',
  'fastify@5',
  '@nestjs/common@12',
  '@nestjs/core@12',
  '@nestjs/platform-express@12',
  'reflect-metadata@0.2',
  'rxjs@7',
];
const enginesRange = (JSON.parse(readFileSync(path.join(root, 'packages/core/package.json'), 'utf8')) as { engines: { node: string } })
  .engines.node;
const supportedNode = semver.satisfies(process.version, enginesRange);

/** npm's own CLI, run by the Node under test, so npm checks engines against that Node. */
function npmCli(): string {
  for (const directory of (process.env.PATH ?? '').split(path.delimiter)) {
    try {
      const cli = realpathSync(path.join(directory, 'npm'));
      if (cli.endsWith('npm-cli.js')) return cli;
    } catch {
      // not in this directory
    }
  }
  throw new Error('npm is not on PATH');
}

const apps = {
  // ESM app, Express 5.
  'express.mjs': `
import express from 'express';
import { zeroDowntime } from '@zero-downtime/express';
const app = express();
app.use(zeroDowntime({ readinessPath: '/ready' }));
app.use(express.json());
app.get('/ping', (request, response) => response.json({ pid: process.pid }));
app.post('/echo', (request, response) => response.json({ data: request.body.data, pid: process.pid }));
app.listen(Number(process.env.PORT), '127.0.0.1');
`,
  // CommonJS app, Fastify 5.
  'fastify.cjs': `
const Fastify = require('fastify');
const { zeroDowntime } = require('@zero-downtime/fastify');
async function main() {
  const app = Fastify();
  await app.register(zeroDowntime, { readinessPath: '/ready' });
  app.get('/ping', async () => ({ pid: process.pid }));
  app.post('/echo', async (request) => ({ data: request.body.data, pid: process.pid }));
  await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
}
main();
`,
  // CommonJS app on NestJS 12, which is published as ESM only: the adapter's CommonJS build requires it.
  'nest.cjs': `
require('reflect-metadata');
const { Body, Controller, Get, HttpCode, Module, Post } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { ExpressAdapter } = require('@nestjs/platform-express');
const { ZeroDowntimeModule, enableZeroDowntime } = require('@zero-downtime/nest');
class ContractController {
  ping() { return { pid: process.pid }; }
  echo(body) { return { data: body.data, pid: process.pid }; }
}
Controller()(ContractController);
const describe = (name) => Object.getOwnPropertyDescriptor(ContractController.prototype, name);
Get('ping')(ContractController.prototype, 'ping', describe('ping'));
Post('echo')(ContractController.prototype, 'echo', describe('echo'));
HttpCode(200)(ContractController.prototype, 'echo', describe('echo'));
Body()(ContractController.prototype, 'echo', 0);
class AppModule {}
Module({ imports: [ZeroDowntimeModule.forRoot({ readinessPath: '/ready' })], controllers: [ContractController] })(AppModule);
async function main() {
  const app = enableZeroDowntime(await NestFactory.create(AppModule, new ExpressAdapter(), { logger: ['error', 'warn'] }));
  await app.listen(Number(process.env.PORT), '127.0.0.1');
}
main();
`,
};

let scratch = '';
const tarballOf = (name: (typeof PUBLISHED)[number]) => {
  const directory = path.join(scratch, 'tarballs');
  return path.join(directory, readdirSync(directory).find((file) => file.startsWith(`zero-downtime-${name}-`))!);
};
/** npm's own settings only: none of the workspace's (.npmrc, pnpm's), whatever the caller had exported. */
const npmEnv = () => Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
/** `npm install ARGS` in `cwd`, with the Node under test. */
const npmInstall = (cwd: string, args: string[]) =>
  run(process.execPath, [npmCli(), 'install', '--no-audit', '--no-fund', '--loglevel', 'warn', ...args], { cwd, timeoutMs: 240_000, env: npmEnv() });
let install: RunResult;
let zdtBin = '';

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'zdt-packed-install-'));
  const tarballs = path.join(scratch, 'tarballs');
  mkdirSync(tarballs);
  for (const name of PUBLISHED) {
    const packed = await run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: path.join(root, 'packages', name), timeoutMs: 60_000 });
    expect(packed.code, packed.stdout + packed.stderr).toBe(0);
  }
  const app = path.join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'packed-install', version: '1.0.0', private: true }, null, 2));
  for (const [file, source] of Object.entries(apps)) writeFileSync(path.join(app, file), source);
  install = await run(
    process.execPath,
    [npmCli(), 'install', '--no-audit', '--no-fund', '--loglevel', 'warn', ...PACKAGES.map(tarballOf), ...FRAMEWORKS],
    { cwd: app, timeoutMs: 240_000, env: npmEnv() },
  );
  zdtBin = path.join(app, 'node_modules', '.bin', 'zdt');
}, 300_000);

afterAll(async () => {
  await cleanUp();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the packed packages, installed with npm in a project of their own', () => {
  it('install with the newest Express 5, Fastify 5 and NestJS 12 and no peer or engine warning', () => {
    expect(install.code, install.stdout + install.stderr).toBe(0);
    const warnings = (install.stdout + install.stderr).split('\n').filter((line) => /\bwarn\b/i.test(line));
    const peerWarnings = warnings.filter((line) => /peer|ERESOLVE|overriding/i.test(line));
    expect(peerWarnings, install.stderr).toEqual([]);
    const engineWarnings = warnings.filter((line) => /EBADENGINE/.test(line)).join('\n');
    if (supportedNode) {
      expect(engineWarnings, install.stderr).toBe('');
    } else {
      // A Node outside the declared range (the end-of-life Node 20 of some machines): npm says so for every package.
      for (const name of PACKAGES) expect(engineWarnings).toContain(`@zero-downtime/${name}`);
    }
    const app = path.join(scratch, 'app');
    const installed = (name: string) => JSON.parse(readFileSync(path.join(app, 'node_modules', name, 'package.json'), 'utf8'));
    expect(semver.major(installed('express').version)).toBe(5);
    expect(semver.major(installed('fastify').version)).toBe(5);
    expect(semver.major(installed('@nestjs/core').version)).toBe(12);
    // `pnpm pack` wrote real ranges where the workspace has `workspace:^`.
    for (const name of ['express', 'fastify', 'nest']) {
      expect(installed(`@zero-downtime/${name}`).dependencies['@zero-downtime/core']).toMatch(/^\^\d+\.\d+\.\d+$/);
    }
  });

  it.each(PUBLISHED)('@zero-downtime/%s passes attw (every resolution, node10 included) and publint --strict on its tarball', async (name) => {
    const tarball = tarballOf(name);
    const attw = await run(path.join(root, 'node_modules/.bin/attw'), [tarball, '--format', 'ascii', '--no-color'], { timeoutMs: 60_000 });
    expect(attw.code, attw.stdout + attw.stderr).toBe(0);
    expect(attw.stdout).toContain('No problems found');
    const publint = await run(path.join(root, 'node_modules/.bin/publint'), ['run', tarball, '--strict'], { timeoutMs: 60_000 });
    expect(publint.code, publint.stdout + publint.stderr).toBe(0);
    expect(publint.stdout + publint.stderr).not.toMatch(/Warnings?:|Errors?:/);
  });

  describe.each(['express.mjs', 'fastify.cjs', 'nest.cjs'])('%s under the installed zdt', (entry) => {
    it('serves, reloads with every worker replaced and no failed request, and stops with exit 0', async () => {
      expect(install.code).toBe(0);
      const app = path.join(scratch, 'app');
      const control = path.join(scratch, `${entry}.sock`);
      const port = await freePort();
      const supervisor = startProcess(process.execPath, [zdtBin, 'start', entry, '--workers', '2', '--control', control], {
        cwd: app,
        env: { ...process.env, PORT: String(port) },
        what: `installed zdt start ${entry}`,
      });
      track(supervisor.pid, `installed zdt start ${entry}`);
      await Promise.race([
        waitForHttp(port, { timeoutMs: 60_000 }),
        supervisor.exited.then(({ code }) => {
          throw new Error(`zdt start exited with ${code}:\n${supervisor.output.join('\n')}`);
        }),
      ]);
      const before = childrenOf(supervisor.pid!);
      for (const pid of before) track(pid, `a worker of ${entry}`);
      expect(before).toHaveLength(2);
      expect(await get(port, '/ready')).toMatchObject({ status: 200, body: '{"status":"ok"}' });

      const load = startLoad({ port, clients: 8, durationMs: 60_000 });
      await sleep(300);
      const reload = await run(process.execPath, [zdtBin, 'reload', '--control', control], { cwd: app, timeoutMs: 90_000 });
      await sleep(300);
      const summary = await load.stop();

      expect(reload.code, reload.stdout + reload.stderr + supervisor.output.join('\n')).toBe(0);
      expect(summary.failures).toEqual({});
      expect(summary.failed).toBe(0);
      expect(summary.ok).toBeGreaterThan(0);
      const after = childrenOf(supervisor.pid!);
      for (const pid of after) track(pid, `a worker of ${entry}`);
      expect(after).toHaveLength(2);
      expect(after.filter((pid) => before.includes(pid))).toEqual([]);
      for (const pid of before) expect(await waitForExit(pid, 15_000)).toBe(true);

      const stop = await run(process.execPath, [zdtBin, 'stop', '--control', control], { cwd: app, timeoutMs: 60_000 });
      expect(stop.code, stop.stdout + stop.stderr).toBe(0);
      expect(await supervisor.exited, supervisor.output.join('\n')).toEqual({ code: 0, signal: null });
      for (const pid of after) expect(await waitForExit(pid, 15_000)).toBe(true);
    });
  });
});

describe('@zero-downtime/core and @zero-downtime/verify, each installed with npm in a fresh project', () => {
  it('@zero-downtime/core installs no other package', async () => {
    const project = path.join(scratch, 'core-only');
    mkdirSync(project);
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'core-only', version: '1.0.0', private: true }));
    const installed = await npmInstall(project, [tarballOf('core')]);
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    const modules = path.join(project, 'node_modules');
    expect(readdirSync(modules).filter((name) => !name.startsWith('.'))).toEqual(['@zero-downtime']);
    expect(readdirSync(path.join(modules, '@zero-downtime'))).toEqual(['core']);
  });

  it('npm i -D @zero-downtime/verify in the Express example makes `npx zdt verify app.mjs` pass', async () => {
    const project = path.join(scratch, 'express-example');
    mkdirSync(project);
    for (const file of ['app.mjs', 'database.mjs']) cpSync(path.join(root, 'examples', 'express', file), path.join(project, file));
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'express-example', version: '1.0.0', private: true, type: 'module' }));
    const dependencies = await npmInstall(project, [tarballOf('core'), tarballOf('express'), 'express@5']);
    expect(dependencies.code, dependencies.stdout + dependencies.stderr).toBe(0);
    const verifyInstall = await npmInstall(project, ['-D', tarballOf('verify')]);
    expect(verifyInstall.code, verifyInstall.stdout + verifyInstall.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    expect(Object.keys(manifest.devDependencies)).toEqual(['@zero-downtime/verify']);

    // The port as a socket the supervisor owns: verify fails a run on a reset during the final stop, and the stop's
    // zero-reset promise is made for owned sockets (docs/explanation/connections.md).
    const port = await freePort();
    const args = ['verify', 'app.mjs', '--workers', '2', '--listen', `127.0.0.1:${port}`, '--env', `PORT=${port}`, '--route', 'GET /ping 200', '--route', 'POST /echo 200 echo', '--clients', '2', '--timeout', '90s', '--json'];
    const verified = await run(process.execPath, [npmCli(), 'exec', '--', 'zdt', ...args], { cwd: project, timeoutMs: 120_000, env: npmEnv() });
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout) as { ok: boolean; events: Array<{ name: string; ok: boolean }> };
    expect(report.ok).toBe(true);
    expect(report.events.every((event) => event.ok)).toBe(true);
  });
});
