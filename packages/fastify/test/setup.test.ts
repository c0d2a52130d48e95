import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import zeroDowntime, { DEFAULTS, type ZeroDowntimeFastifyOptions } from '../src/index.js';

// The worker lifecycle is one per process: this file never starts the drain (drain.test.ts does).
const quiet = { signals: false, exit: false, handleUncaughtExceptions: false, logger: false } as const;

async function build(options: ZeroDowntimeFastifyOptions = {}) {
  const app = Fastify({ logger: false });
  await app.register(zeroDowntime, { ...quiet, ...options });
  app.get('/hello', async () => ({ hello: 'world' }));
  await app.ready();
  return app;
}

describe('@zero-downtime/fastify options', () => {
  it.each([
    ['readinessPath', { readinessPath: 'ready' }],
    ['livenessPath', { livenessPath: 42 }],
    ['livenessPath', { readinessPath: '/health', livenessPath: '/health' }],
    ['drainTimeoutMs', { drainTimeoutMs: -1 }],
    ['signals', { signals: 'yes' }],
    ['drainTimeout', { drainTimeout: 1000 }],
  ])('refuses a bad %s with ERR_ZDT_INVALID_OPTION', async (option, options) => {
    const app = Fastify({ logger: false });
    app.register(zeroDowntime, { ...quiet, ...(options as ZeroDowntimeFastifyOptions) });
    await expect(app.ready()).rejects.toMatchObject({ code: 'ERR_ZDT_INVALID_OPTION', option });
    await app.close();
  });

  it('leaves Fastify register options (prefix) alone', async () => {
    const app = Fastify({ logger: false });
    await app.register(zeroDowntime, { ...quiet, prefix: '/api', readinessPath: '/ready' } as ZeroDowntimeFastifyOptions);
    await app.ready();
    expect(app.hasPlugin('@zero-downtime/fastify')).toBe(true);
    await app.close();
  });
});

describe('@zero-downtime/fastify while running', () => {
  it('adds no health route by default', async () => {
    expect(DEFAULTS).toEqual({ readinessPath: false, livenessPath: false });
    const app = await build();
    expect((await app.inject('/ready')).statusCode).toBe(404);
    expect((await app.inject('/live')).statusCode).toBe(404);
    await app.close();
  });

  it('answers readiness and liveness 200 on the configured paths, without Connection: close', async () => {
    const app = await build({ readinessPath: '/health/ready', livenessPath: '/health/live' });
    const readiness = await app.inject('/health/ready');
    expect(readiness.statusCode).toBe(200);
    expect(readiness.json()).toEqual({ status: 'ok' });
    const liveness = await app.inject('/health/live');
    expect(liveness.statusCode).toBe(200);
    expect(liveness.json()).toEqual({ status: 'ok' });
    const hello = await app.inject('/hello');
    expect(hello.headers.connection).not.toBe('close');
    await app.close();
  });

  it('decorates the instance with zeroDowntime, visible in child contexts', async () => {
    const app = Fastify({ logger: false });
    await app.register(zeroDowntime, quiet);
    let seen: boolean | undefined;
    await app.register(async (child) => {
      seen = child.zeroDowntime.isDraining();
    });
    await app.ready();
    expect(app.zeroDowntime.isDraining()).toBe(false);
    expect(seen).toBe(false);
    await app.close();
  });
});

describe('@zero-downtime/fastify when the app closes itself', () => {
  it('closes a listening app without starting the process drain', async () => {
    const app = await build({ readinessPath: '/ready' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    await app.close();
    expect(app.zeroDowntime.isDraining()).toBe(false);

    const next = await build({ readinessPath: '/ready' });
    expect((await next.inject('/ready')).statusCode).toBe(200);
    await next.close();
  });
});
