/**
 * An app alone (Kubernetes, systemd, Docker: no supervisor) under SIGTERM while keep-alive clients keep sending, on
 * every framework: it stops listening, answers every request sent on a connection it had accepted, tells those
 * clients to leave (Connection: close) rather than closing sockets under them, runs its own cleanup (a database pool
 * closed in onShutdown, onClose, onModuleDestroy) after the last response, and exits 0.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { get, killTracked, startLoad, startProcess } from '@zero-downtime/testkit';
import { appPath, frameworks, nodeHttp, nodeHttpFoundByChannel, type E2eApp } from './lib/apps.js';

const drainReport = { report: { reason: 'SIGTERM', clean: true, cut: 0 } };
const expressMajor = (major: number) => ({ ...drainReport, version: expect.stringMatching(new RegExp(`^${major}\\.`)) });

/** Each app, with what its cleanup line must say beyond "nothing in flight". */
const apps: Array<E2eApp & { cleanup?: Record<string, unknown> }> = [
  { ...nodeHttp, cleanup: drainReport },
  { ...nodeHttpFoundByChannel, cleanup: drainReport },
  { ...frameworks[0]!, cleanup: expressMajor(5) },
  { ...frameworks[1]!, cleanup: expressMajor(4) },
  { name: 'express 5 (http.createServer)', entry: appPath('express.mjs'), env: { EXPRESS_LISTEN: 'http.createServer' }, cleanup: expressMajor(5) },
  { name: 'express 4', entry: appPath('express.mjs'), env: { EXPRESS_VERSION: '4' }, cleanup: expressMajor(4) },
  ...frameworks.slice(2),
];

const REQUESTS_BEFORE_SIGTERM = 400;

afterEach(() => killTracked());

describe.each(apps)('$name alone under SIGTERM', ({ entry, env, cleanup }) => {
  it('answers every request the clients sent, runs its cleanup after the last one, exits 0', async () => {
    const started = startProcess(process.execPath, [entry], { env: { ...process.env, ...env, PORT: '0' } });
    const port = Number(/listening (\d+)/.exec(await started.waitForLine(/^listening \d+/))![1]);
    expect(await get(port, '/ready')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect(await get(port, '/live')).toMatchObject({ status: 200, body: '{"status":"ok"}' });

    // Once the listener is closed new connections are refused (an orchestrator routes elsewhere): counted apart.
    let signalled = false;
    const load = startLoad({ port, clients: 8, durationMs: 60_000, refusedIsExpected: () => signalled });
    await load.waitForRequests(REQUESTS_BEFORE_SIGTERM);
    signalled = true;
    started.child.kill('SIGTERM');
    const exit = await started.exited;
    const summary = await load.stop();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThanOrEqual(REQUESTS_BEFORE_SIGTERM);
    // The clients were told to leave (Connection: close) rather than having their sockets closed under them.
    expect(summary.connectionClose).toBeGreaterThan(0);
    // Nothing in flight at cleanup, and at least as many requests finished as the clients saw answered.
    const line = await started.waitForLine(/^cleanup \{/);
    const seen = JSON.parse(line.slice('cleanup '.length)) as { finished: number; inFlight: number };
    expect(seen).toMatchObject({ inFlight: 0, ...cleanup });
    expect(seen.finished).toBeGreaterThanOrEqual(summary.ok);
  });
});
