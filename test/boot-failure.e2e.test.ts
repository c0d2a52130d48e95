/**
 * A worker that fails before it is ready is named at once with its cause, not at the ready timeout: here the port
 * the app listens on is taken, for an app without the worker module, one with it, and each adapter.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, killTracked, zdtStart } from '@zero-downtime/testkit';

const app = (name: string) => fileURLToPath(new URL(`./fixtures/apps/${name}`, import.meta.url));

const apps = [
  { name: 'plain node:http, no worker module', entry: app('plain.cjs') },
  { name: 'node:http with the worker module', entry: app('release.cjs') },
  { name: 'express 5', entry: app('express.mjs') },
  { name: 'fastify', entry: app('fastify.mjs') },
  { name: 'nest on platform-express', entry: app('nest.mjs'), env: { NEST_PLATFORM: 'express' } },
  { name: 'nest on platform-fastify', entry: app('nest.mjs'), env: { NEST_PLATFORM: 'fastify' } },
];

let squatter: net.Server;
let takenPort = 0;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-boot-'));
const timings: string[] = [];

beforeAll(async () => {
  squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  takenPort = (squatter.address() as net.AddressInfo).port;
});
afterEach(() => killTracked());
afterAll(() => {
  squatter.close();
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\nboot failure named after (zdt start to exit):\n${timings.join('\n')}`);
});

describe('a boot failure is named with its cause', () => {
  for (const { name, entry, env } of apps) {
    it(`${name}: port in use → zdt start exits 1 naming EADDRINUSE and the address, not the ready timeout`, async () => {
      const startedAt = Date.now();
      const running = zdtStart([entry, '--workers', '2', '--ready-timeout', '60s', '--control', path.join(scratch, `${apps.findIndex((item) => item.entry === entry && item.env === env)}.sock`)], {
        env: { ...env, PORT: String(takenPort) },
      });
      const exit = await running.exited;
      timings.push(`${name}: ${Date.now() - startedAt} ms`);
      expect(exit).toEqual({ code: 1, signal: null });
      const failure = running.output.find((line) => line.includes('ERR_ZDT_START_FAILED'));
      expect(failure, running.output.join('\n')).toBeDefined();
      expect(failure).toMatch(new RegExp(`failed before it was ready: (uncaught exception|unhandled rejection): EADDRINUSE: .*127\\.0\\.0\\.1:${takenPort}`));
      expect(failure).not.toMatch(/not ready within/);
      expect(running.workerPids().filter(isAlive)).toEqual([]);
    });
  }
});
