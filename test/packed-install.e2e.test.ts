/**
 * What users get is what is tested: the four publishable packages packed the way they are published (`pnpm pack`,
 * which turns `workspace:^` into real ranges), installed with npm into a scratch project outside the workspace
 * together with the newest Express 5, Fastify 5 and NestJS 12 from the registry, then one app per adapter run by the
 * installed `zdt start`, under load through a `zdt reload`. The same tarballs pass attw and publint.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
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
let install: RunResult;
let zdtBin = '';

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'zdt-packed-install-'));
  const tarballs = path.join(scratch, 'tarballs');
  mkdirSync(tarballs);
  for (const name of PACKAGES) {
    const packed = await run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: path.join(root, 'packages', name), timeoutMs: 60_000 });
    expect(packed.code, packed.stdout + packed.stderr).toBe(0);
  }
  const app = path.join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'packed-install', version: '1.0.0', private: true }, null, 2));
  for (const [file, source] of Object.entries(apps)) writeFileSync(path.join(app, file), source);
  install = await run(
    process.execPath,
    [npmCli(), 'install', '--no-audit', '--no-fund', '--loglevel', 'warn', ...readdirSync(tarballs).map((file) => path.join(tarballs, file)), ...FRAMEWORKS],
    // npm's own settings only: none of the workspace's (.npmrc, pnpm's), whatever the caller had exported.
    { cwd: app, timeoutMs: 240_000, env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key))) },
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

  it.each(PACKAGES)('@zero-downtime/%s passes attw (every resolution, node10 included) and publint --strict on its tarball', async (name) => {
    const tarball = path.join(scratch, 'tarballs', readdirSync(path.join(scratch, 'tarballs')).find((file) => file.startsWith(`zero-downtime-${name}-`))!);
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
