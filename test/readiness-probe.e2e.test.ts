/**
 * Readiness `http:PATH` with the adapters: the worker side's probe goes through the framework's own router, so the
 * adapter's readiness route makes the worker ready, and a path the app does not have is answered by the framework
 * (404) and the start is refused with that answer. (The probe itself, zero-line, with https and HTTP/2:
 * packages/core/test/readiness-probe.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killTracked, waitForHttp, zdt, zdtStart } from '@zero-downtime/testkit';
import { cells } from './lib/tier.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-readiness-'));
let sockets = 0;
const app = (name: string) => fileURLToPath(new URL(`./fixtures/apps/${name}.mjs`, import.meta.url));

afterEach(() => killTracked());
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(cells(['express', 'fastify', 'nest'], (name) => name === 'express'))('the %s adapter', (name) => {
  it("is ready once its readiness route answers 200, and refused with the framework's 404 for a path it lacks", async () => {
    const control = path.join(scratch, `${++sockets}.sock`);
    const running = zdtStart([app(name), '--workers', '1', '--control', control, '--ready', 'http:/ready']);
    await running.waitForLine(/supervisor pid \d+ running/);
    // The port opens when the supervisor's 'accept' reaches the first worker, an IPC message after that line.
    await waitForHttp(running.port(), { path: '/ready' });
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });

    const refused = await zdt(['start', app(name), '--workers', '1', '--control', path.join(scratch, `${++sockets}.sock`), '--ready', 'http:/missing', '--ready-timeout', '3s'], { timeoutMs: 60_000 });
    expect(refused.code).toBe(1);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/worker 1 \(pid \d+\) was not ready within 3000ms: GET \/missing answered 404/);
  });
});
