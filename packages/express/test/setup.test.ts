import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { EXPRESS_DEFAULTS, InvalidOptionError, zeroDowntime } from '../src/index.js';

// The worker side runs inside this test process: keep it from reacting to signals, exceptions, or exiting.
const quiet = { signals: false, handleUncaughtExceptions: false, exit: false, logger: false } as const;
const fromTestPackage = createRequire(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../test/package.json'));

describe.each(['express', 'express4'])('without health routes, on %s', (expressPackage) => {
  it('leaves the middleware stack after the first request, and no layer after it is skipped, then or later', async () => {
    const makeApp = fromTestPackage(expressPackage) as typeof express;
    const app = makeApp();
    const middleware = zeroDowntime(quiet);
    app.use(middleware);
    // Layers after it, one of them asynchronous: the first request is being dispatched when the stack changes.
    app.use((_request, response, next) => {
      response.setHeader('x-first', '1');
      setTimeout(next, 20);
    });
    app.use((_request, response, next) => {
      response.setHeader('x-second', '1');
      next();
    });
    app.get('/', (_request, response) => {
      response.send('hello');
    });
    const appWithRouter = app as unknown as { _router?: { stack: Array<{ handle: unknown }> }; router?: { stack: Array<{ handle: unknown }> } };
    const stack = () => (appWithRouter._router ?? appWithRouter.router)!.stack.map((layer) => layer.handle);
    expect(stack()).toContain(middleware);
    const [first, second] = await Promise.all([request(app).get('/'), request(app).get('/')]);
    for (const answer of [first, second, await request(app).get('/')]) {
      expect(answer.status).toBe(200);
      expect(answer.text).toBe('hello');
      expect(answer.headers).toMatchObject({ 'x-first': '1', 'x-second': '1' });
    }
    expect(stack()).not.toContain(middleware);
  });
});

describe('zeroDowntime() options', () => {
  it('leaves health paths to the app by default', async () => {
    expect(EXPRESS_DEFAULTS).toEqual({ readinessPath: false, livenessPath: false });
    const app = express();
    app.use(zeroDowntime(quiet));
    app.get('/', (_request, response) => {
      response.send('hello');
    });
    await request(app).get('/readyz').expect(404);
    await request(app).get('/').expect(200, 'hello');
  });

  it('answers readiness and liveness on the configured paths while running', async () => {
    const app = express();
    app.use(zeroDowntime({ ...quiet, readinessPath: '/health/ready', livenessPath: '/health/live' }));
    await request(app).get('/health/ready').expect(200, { status: 'ok' }).expect('cache-control', 'no-store');
    await request(app).get('/health/live').expect(200, { status: 'ok' });
    await request(app).post('/health/ready').expect(404);
  });

  it.each([
    [{ readinessPath: 'ready' }, 'readinessPath'],
    [{ livenessPath: true }, 'livenessPath'],
    [{ drainTimeoutMs: -1 }, 'drainTimeoutMs'],
    [{ idleGraceMs: '1s' }, 'idleGraceMs'],
    [{ readinesPath: '/ready' }, 'readinesPath'],
  ])('refuses %j with InvalidOptionError ERR_ZDT_INVALID_OPTION naming the option', (options, option) => {
    let caught: unknown;
    try {
      zeroDowntime(options as never);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidOptionError);
    expect(caught).toMatchObject({ code: 'ERR_ZDT_INVALID_OPTION', option });
  });
});
