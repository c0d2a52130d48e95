/**
 * A stop loses nothing. The supervisor is stopped under load, half of the times by `zdt stop` and half by SIGTERM
 * (what systemd, Docker and Kubernetes send), while keep-alive, connection-per-request and pipelining clients keep
 * sending. Every connection the kernel accepted must be answered or closed cleanly: a refused connection after the
 * stop is fine (a client or balancer retries it safely), a reset is not (the client cannot tell whether its request
 * was processed). What must hold: not one reset, not one request lost, for keep-alive, connection-per-request and
 * pipelining clients over every stop, with a socket the supervisor owns and with the app's own listen().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CONTRACT_ROUTES, freePort, killTracked, startLoad, startPipelinedLoad, zdt, zdtStart } from '@zero-downtime/testkit';
import { tier } from './lib/tier.js';

const app = fileURLToPath(new URL('./fixtures/apps/node-http.cjs', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-stop-load-'));
const rows: string[] = [];
let sockets = 0;

afterEach(() => killTracked());
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\nstops under load (half zdt stop, half SIGTERM), 2 workers:\n${rows.join('\n')}`);
});

/** A refusal once the stop has begun is what a stopped service should answer; anything else is a loss. */
function losses(failures: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(failures).filter(([reason]) => !/ECONNREFUSED/.test(reason)));
}

// Both ways an app's port reaches the workers: a socket the supervisor owns (--listen), and the app's own listen()
// shared through node:cluster (the primary's copy is closed when the stop begins, docs/explanation/connections.md).
// 20 stops of each in the full tier; in the fast tier 20 with the app's own listen() (the path most apps take) and 6
// with --listen.
describe.each([
  { socket: '--listen', listen: (port: number) => ['--listen', `127.0.0.1:${port}`], STOPS: tier(6, 20) },
  { socket: "the app's own listen()", listen: () => [], STOPS: 20 },
])('zdt stop and SIGTERM under load, $socket', ({ socket, listen, STOPS }) => {
  it(`${STOPS} stops: not one reset for keep-alive, connection-per-request or pipelining clients`, async () => {
    const totals: Record<string, { sent: number; lost: Record<string, number> }> = {};
    for (let stop = 1; stop <= STOPS; stop++) {
      const control = path.join(scratch, `${++sockets}.sock`);
      const port = await freePort();
      const running = zdtStart([app, '--workers', '2', '--control', control, '--drain-timeout', '5s', ...listen(port)], { env: { PORT: String(port) } });
      await running.waitForLine(/supervisor pid \d+ running/);
      let stopping = false;
      const loads = {
        'keep-alive': startLoad({ port: running.port(), clients: 4, keepAlive: true, durationMs: 60_000, refusedIsExpected: () => stopping }),
        'connection per request': startLoad({ port: running.port(), clients: 4, keepAlive: false, durationMs: 60_000, refusedIsExpected: () => stopping }),
        pipelined: startPipelinedLoad({ port: running.port(), clients: 2, depth: 4, durationMs: 60_000, routes: CONTRACT_ROUTES }),
      };
      await Promise.all(Object.values(loads).map((load) => load.waitForRequests(100)));
      stopping = true;
      if (stop % 2 === 0) expect((await zdt(['stop', '--control', control])).code).toBe(0);
      else process.kill(running.pid!, 'SIGTERM');
      expect(await running.exited).toEqual({ code: 0, signal: null });
      for (const [kind, load] of Object.entries(loads)) {
        const summary = await load.stop();
        const total = (totals[kind] ??= { sent: 0, lost: {} });
        total.sent += summary.sent;
        for (const [reason, count] of Object.entries(losses(summary.failures))) total.lost[reason] = (total.lost[reason] ?? 0) + count;
      }
    }
    for (const [kind, { sent, lost }] of Object.entries(totals)) rows.push(`${socket}, ${kind}: ${STOPS} stops, ${sent} sent, lost ${JSON.stringify(lost)}`);
    expect(Object.fromEntries(Object.entries(totals).map(([kind, { lost }]) => [kind, lost]))).toEqual({ 'keep-alive': {}, 'connection per request': {}, pipelined: {} });
  });
});
