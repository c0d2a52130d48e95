import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { delay, Fixture, killStarted, request, startLoad } from '../../core/test/worker-harness.js';

const app = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'express-app.cjs');

afterEach(killStarted);

describe('Express app alone under SIGTERM while keep-alive clients keep sending (real process)', () => {
  it.each([
    ['express', 'app.listen()', '5.'],
    ['express4', 'app.listen()', '4.'],
    ['express', 'http.createServer(app)', '5.'],
  ])('%s with %s: zero failed requests, readiness then drain, exit 0', async (expressPackage, listen, major) => {
    const fixture = new Fixture(app, {
      env: { EXPRESS: expressPackage, LISTEN: listen === 'app.listen()' ? 'listen' : 'createServer' },
    });
    const port = await fixture.port();
    expect(await request(port, { path: '/readyz' })).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect(await request(port, { path: '/livez' })).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    const load = startLoad(() => port, 8);
    await delay(500);
    process.kill(fixture.pid, 'SIGTERM');
    expect(await fixture.waitForExit()).toEqual({ code: 0, signal: null });
    const result = await load.stop();
    expect(result.failed).toEqual([]);
    expect(result.succeeded).toBeGreaterThan(0);
    const cleanup = await fixture.waitForEvent('cleanup');
    expect(cleanup.report).toMatchObject({ reason: 'SIGTERM', clean: true, cut: 0 });
    expect(String(cleanup.version)).toMatch(new RegExp(`^${major.replace('.', '\\.')}`));
  });
});
