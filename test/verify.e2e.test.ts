/**
 * `zdt verify` as a user runs it, on real apps: it passes on a plain app, and fails naming the cause on three broken
 * ones (an app that cuts its connections when told to stop, one whose keep-alive timeout is shorter than the proxy
 * declared in front of it, and a release that throws at boot but was meant to deploy). Its JUnit file is read with a
 * real JUnit parser (junit2json).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, killTracked, zdt } from '@zero-downtime/testkit';
import { parse, type TestSuites } from 'junit2json';
import { afterEach, describe, expect, it } from 'vitest';
import { appPath } from './lib/apps.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/verify/${name}`, import.meta.url));
const directories: string[] = [];
afterEach(() => {
  killTracked();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** `zdt verify` with two workers on port 0, bounded in time; the JUnit file goes to a temporary directory. */
/**
 * The apps listen on a socket the supervisor owns (`--listen`), as the examples' verify scripts do. Verify fails a run
 * on a reset during the final stop; the stop test (stop-under-load.e2e.test.ts) holds that promise for both `--listen`
 * and the app's own listen().
 */
async function verify(args: string[]) {
  const directory = mkdtempSync(path.join(tmpdir(), 'verify-test-'));
  directories.push(directory);
  const junit = path.join(directory, 'junit.xml');
  const port = await freePort();
  const result = await zdt(
    ['verify', ...args, '--workers', '2', '--listen', `127.0.0.1:${port}`, '--env', `PORT=${port}`, '--clients', '2', '--timeout', '90s', '--request-timeout', '3s', '--junit', junit],
    { timeoutMs: 110_000 },
  );
  return { ...result, junit };
}

/**
 * Read by junit2json, a JUnit XML parser CI tooling uses (xml2js underneath: malformed XML throws). The shape CI
 * systems read: testsuites > testsuite > testcase, counts that add up, a failure per failed case.
 */
async function readJunit(file: string) {
  const root = (await parse(readFileSync(file, 'utf8'))) as TestSuites;
  expect(root.name).toBe('zdt verify');
  const cases = (root.testsuite ?? []).flatMap((suite) => {
    const testcases = suite.testcase ?? [];
    expect(suite.tests).toBe(testcases.length);
    expect(suite.failures).toBe(testcases.filter((testcase) => testcase.failure?.length).length);
    for (const testcase of testcases) {
      expect(testcase.name).toBeTruthy();
      expect(Number.isFinite(testcase.time)).toBe(true);
    }
    return testcases;
  });
  expect(root.tests).toBe(cases.length);
  const failures = cases.filter((testcase) => testcase.failure?.length);
  expect(root.failures).toBe(failures.length);
  return { cases, failures: failures.map((testcase) => ({ name: testcase.name!, message: testcase.failure![0]!.message! })) };
}

/** The events of a default run, each passed: two reloads, the crash, the refused release, the stop. */
const DEFAULT_EVENTS_OK = [
  ['reload 1', true],
  ['reload 2', true],
  ['worker crash (SIGKILL)', true],
  ['bad release refused (that throws at boot)', true],
  ['stop', true],
];

describe('zdt verify', () => {
  // The app listens without a host, as the README's quickstart does: zdt announces it as ':PORT'.
  it('passes on a plain app through reloads, a crash and a refused release, with a JUnit file that parses', async () => {
    const result = await verify([fixture('any-address.cjs'), '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      target: { routes: string[] };
      traffic: Array<{ kind: string; sent: number; failed: number }>;
      events: Array<{ name: string; ok: boolean }>;
    };
    expect(report.ok).toBe(true);
    expect(report.target.routes).toEqual(['GET /ping 200']);
    expect(report.traffic.map((kind) => kind.kind)).toEqual(['keep-alive', 'close', 'fetch', 'pipelined']);
    for (const kind of report.traffic) {
      expect(kind.failed).toBe(0);
      expect(kind.sent).toBeGreaterThan(0);
    }
    expect(report.events.map((event) => [event.name, event.ok])).toEqual(DEFAULT_EVENTS_OK);
    const junit = await readJunit(result.junit);
    expect(junit.cases).toHaveLength(4 + 5);
    expect(junit.failures).toEqual([]);
  });

  it('fails on an app that cuts its connections when told to stop, naming the failed requests', async () => {
    const result = await verify([fixture('abrupt.cjs'), '--no-auto-drain', '--reloads', '1', '--no-crash', '--no-bad-release', '--traffic', 'keep-alive,close']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAILED in/);
    expect(result.stdout).toMatch(/- (keep-alive|close): \d+ request\(s\) failed \((ECONNRESET|socket hang up)/);
    const junit = await readJunit(result.junit);
    expect(junit.failures.map((failure) => failure.name)).not.toHaveLength(0);
  });

  it('fails on an app that resets connections at the final stop, naming the resets in the stop event', async () => {
    // No reload, crash or bad release: only the final stop cuts, and the traffic runs through it.
    const result = await verify([fixture('abrupt.cjs'), '--no-auto-drain', '--reloads', '0', '--no-crash', '--no-bad-release', '--traffic', 'keep-alive,close']);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(/- stop: \d+ request\(s\) or connection\(s\) failed during the stop \((ECONNRESET|socket hang up) x\d+/);
    const junit = await readJunit(result.junit);
    expect(junit.failures.map((failure) => failure.name)).toContain('stop');
  });

  it('waits under --ready message until every worker is ready: no warm-up answer counted, no event refused', async () => {
    // The app answers 503 for 1.5 s after it listens, then calls ready().
    // One reload and the stop: the reloads were what the supervisor refused while it was still starting.
    const result = await verify([fixture('warms-up.mjs'), '--ready', 'message', '--reloads', '1', '--no-crash', '--no-bad-release', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code, result.stdout).toBe(0);
    const report = JSON.parse(result.stdout) as { traffic: Array<{ kind: string; failed: number; failures: Record<string, number> }>; events: Array<{ name: string; ok: boolean }> };
    for (const kind of report.traffic) expect([kind.kind, kind.failures]).toEqual([kind.kind, {}]);
    expect(report.events.map((event) => [event.name, event.ok])).toEqual([
      ['reload 1', true],
      ['stop', true],
    ]);
  });

  it('fails on an app whose keep-alive timeout is shorter than the declared upstream, naming the fix', async () => {
    const result = await verify([fixture('keep-alive.cjs'), '--env', 'KEEP_ALIVE_MS=5000', '--behind', 'nginx', '--reloads', '0', '--no-crash', '--no-bad-release']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('keepAliveTimeout vs nginx (60s): the app closes idle connections after 5s (Keep-Alive: timeout=5 in the answer)');
    expect(result.stdout).toContain('server.keepAliveTimeout = 65000; server.headersTimeout = 66000');
    const junit = await readJunit(result.junit);
    expect(junit.failures.map((failure) => failure.name)).toEqual(['keepAliveTimeout vs nginx (60s)']);
  });

  it('fails when a release that was meant to deploy throws at boot, naming the refused reload', async () => {
    const result = await verify([fixture('throws-on-reload.cjs'), '--reloads', '1', '--no-crash', '--no-bad-release']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/- reload 1: the release was refused: ERR_ZDT_ROLLOUT_FAILED: .*release 2 cannot boot/);
    const junit = await readJunit(result.junit);
    expect(junit.failures.map((failure) => failure.name)).toEqual(['reload 1']);
  });

  it('finds the WebSocket and the event stream, and passes when the app closes them properly at its drain', async () => {
    const result = await verify([fixture('long-lived.cjs'), '--traffic', 'ws,sse', '--reloads', '1', '--no-bad-release', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      target: { websocket: string; sse: string };
      traffic: Array<{ kind: string; sent: number; failed: number; retried: number }>;
    };
    expect(report.target).toMatchObject({ websocket: '/ws', sse: '/events' });
    expect(report.traffic.map((kind) => [kind.kind, kind.failed])).toEqual([
      ['ws', 0],
      ['sse', 0],
    ]);
    // The reload closed every connection properly (1001, the stream ended) and each client opened a new one.
    for (const kind of report.traffic) expect(kind.retried).toBeGreaterThanOrEqual(2);
  });

  it('fails on an app that leaves its WebSocket and event stream open for the drain limit to cut, naming the cut', async () => {
    const result = await verify([fixture('long-lived.cjs'), '--env', 'LEAVE_OPEN=1', '--drain-timeout', '1s', '--traffic', 'ws,sse', '--reloads', '1', '--no-crash', '--no-bad-release']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/- ws: \d+ connection\(s\) failed \(cut \(/);
    expect(result.stdout).toMatch(/- sse: \d+ connection\(s\) failed \(cut \(/);
    expect(result.stdout).toMatch(/- reload 1: requests were cut at the drain deadline/);
    const junit = await readJunit(result.junit);
    expect(junit.failures.map((failure) => failure.name).sort()).toEqual(['reload 1', 'sse', 'stop', 'ws']);
  });

  it('reports that the canary refused a release that boots and answers 500, its 5xx counted apart', async () => {
    const bad = fixture('answers-500.mjs');
    const result = await verify([fixture('any-address.cjs'), '--canary', '2s', '--canary-min-requests', '20', '--bad-entry', bad, '--reloads', '0', '--no-crash', '--traffic', 'close', '--json']);
    const report = JSON.parse(result.stdout) as { ok: boolean; traffic: Array<{ failed: number; canaryFailures: number }>; events: Array<{ name: string; ok: boolean; detail: string }> };
    const event = report.events.find((entry) => entry.name === `bad release refused (loading ${bad})`);
    console.log(`${event?.name}: ${event?.detail}; 5xx apart: ${report.traffic[0]?.canaryFailures}`);
    expect(event).toMatchObject({ ok: true });
    expect(event!.detail).toMatch(/^refused by the canary \(ERR_ZDT_ROLLOUT_FAILED\); generation 0 still serves$/);
    expect(report.traffic[0]!.canaryFailures).toBeGreaterThan(0);
    expect(report.traffic[0]!.failed).toBe(0);
    expect(report.ok).toBe(true);
    expect(result.code).toBe(0);
  });

  it('reports that the health check refused a release that boots and answers 500', async () => {
    const bad = fixture('answers-500.mjs');
    const result = await verify([fixture('any-address.cjs'), '--ready', 'http:/ping', '--ready-timeout', '3s', '--bad-entry', bad, '--reloads', '0', '--no-crash', '--traffic', 'close', '--json']);
    const report = JSON.parse(result.stdout) as { ok: boolean; events: Array<{ name: string; ok: boolean; detail: string }> };
    const event = report.events.find((entry) => entry.name === `bad release refused (loading ${bad})`);
    console.log(`${event?.name}: ${event?.detail}`);
    if (!report.ok) console.log(`not ok: ${JSON.stringify(report, null, 1)}`);
    expect(event).toMatchObject({ ok: true });
    expect(event!.detail).toMatch(/^refused by the health check \(--ready http:\/ping\) \(ERR_ZDT_ROLLOUT_FAILED\); generation 0 still serves$/);
    expect(report.ok).toBe(true);
  });

  it('fails when a release that boots and answers 500 is deployed and nothing checks it, naming the fix', async () => {
    const bad = fixture('answers-500.mjs');
    const result = await verify([fixture('any-address.cjs'), '--bad-entry', bad, '--reloads', '0', '--no-crash', '--traffic', 'close']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /the release that must be refused was deployed: its workers became ready; nothing checks a release once it boots: add a canary \(--canary 30s, key "canary"\) or a health check \(--ready http:\/healthz, key "ready"\) to the configuration/,
    );
  });

  it('exits 2 on bad input, naming the value received', async () => {
    const result = await zdt(['verify', appPath('plain.cjs'), '--reloads', 'two'], { timeoutMs: 30_000 });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--reloads: expected a whole number from 0 to 100, received "two"');
  });
});
