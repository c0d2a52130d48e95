import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Controller, Get, Inject, Injectable, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  DEFAULTS,
  ZERO_DOWNTIME_MODULE_OPTIONS,
  ZeroDowntimeModule,
  ZeroDowntimeService,
  enableZeroDowntime,
  type ZeroDowntimeModuleOptions,
} from '../src/index.js';
import { get } from '@zero-downtime/testkit';

// The worker lifecycle is one per process and a managed server's close() starts it, so this file never closes a
// listening app (drain.test.ts does the drain); the servers are unref()ed instead.
const quiet = { signals: false, exit: false, handleUncaughtExceptions: false, logger: false } as const;

@Controller()
class HelloController {
  @Get('hello')
  hello() {
    return { hello: 'world' };
  }
}

type Platform = 'express' | 'fastify';

function adapterFor(platform: Platform) {
  return platform === 'express' ? new ExpressAdapter() : new FastifyAdapter();
}

async function create(platform: Platform, zeroDowntimeModule: ReturnType<typeof ZeroDowntimeModule.forRoot>) {
  @Module({ imports: [zeroDowntimeModule], controllers: [HelloController] })
  class AppModule {}
  return NestFactory.create(AppModule, adapterFor(platform), { logger: false, abortOnError: false });
}

const started: INestApplication[] = [];

async function listen(app: INestApplication): Promise<number> {
  started.push(app);
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as http.Server;
  server.unref();
  return (server.address() as AddressInfo).port;
}

afterAll(() => {
  // Nothing to close on purpose (see above); the agents below are per test.
  started.length = 0;
});

declare module 'vitest' {
  interface ProvidedContext {
    /** The NestJS major this run of the file is against (one vitest project per major, see vitest.config.ts). */
    nestMajor: number;
  }
}

describe('NestJS under test', () => {
  it('is the major this vitest project names', async () => {
    const { default: nestCore } = await import('@nestjs/core/package.json', { with: { type: 'json' } });
    expect(Number(nestCore.version.split('.')[0])).toBe(inject('nestMajor'));
  });
});

describe('ZeroDowntimeModule options', () => {
  it.each([
    ['readinessPath', { readinessPath: 'ready' }],
    ['livenessPath', { readinessPath: '/health', livenessPath: '/health' }],
    ['logger', { logger: { log: 'no' } }],
    ['drainTimeoutMs', { drainTimeoutMs: -5 }],
    ['drainTimeout', { drainTimeout: 5 }],
  ])('forRoot refuses a bad %s with ERR_ZDT_INVALID_OPTION', async (option, options) => {
    const app = await create('express', ZeroDowntimeModule.forRoot({ ...quiet, ...(options as ZeroDowntimeModuleOptions) })).catch(
      (error: unknown) => error,
    );
    const error = app instanceof Error ? app : await (app as INestApplication).init().catch((failure: unknown) => failure);
    expect(error).toMatchObject({ code: 'ERR_ZDT_INVALID_OPTION', option });
  });

  it('forRootAsync resolves options through an injected factory', async () => {
    const SETTINGS = Symbol('settings');
    @Injectable()
    class Settings {
      readonly readinessPath = '/from-config/ready';
    }
    @Module({ providers: [{ provide: SETTINGS, useClass: Settings }], exports: [SETTINGS] })
    class SettingsModule {}

    const app = await create(
      'express',
      ZeroDowntimeModule.forRootAsync({
        imports: [SettingsModule],
        inject: [SETTINGS],
        useFactory: (settings: Settings) => ({ ...quiet, readinessPath: settings.readinessPath }),
      }),
    );
    expect(app.get(ZERO_DOWNTIME_MODULE_OPTIONS)).toMatchObject({ readinessPath: '/from-config/ready' });
    const port = await listen(app);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await get(port, '/from-config/ready', { agent })).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    agent.destroy();
  });

  it('forRootAsync refuses bad options from the factory with ERR_ZDT_INVALID_OPTION', async () => {
    const app = await create(
      'express',
      ZeroDowntimeModule.forRootAsync({ useFactory: () => ({ ...quiet, livenessPath: 'live' }) }),
    ).catch((error: unknown) => error);
    expect(app).toMatchObject({ code: 'ERR_ZDT_INVALID_OPTION', option: 'livenessPath' });
  });
});

describe.each(['express', 'fastify'] as const)('ZeroDowntimeModule on platform-%s while running', (platform) => {
  it('adds no health route by default', async () => {
    expect(DEFAULTS).toEqual({ readinessPath: false, livenessPath: false });
    const app = await create(platform, ZeroDowntimeModule.forRoot(quiet));
    const port = await listen(app);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(port, '/ready', { agent })).status).toBe(404);
    expect((await get(port, '/hello', { agent })).status).toBe(200);
    agent.destroy();
  });

  it('answers readiness and liveness 200 on the configured paths and keeps connections alive', async () => {
    const app = await create(platform, ZeroDowntimeModule.forRoot({ ...quiet, readinessPath: '/ready', livenessPath: '/live' }));
    enableZeroDowntime(app);
    const port = await listen(app);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await get(port, '/ready', { agent })).toMatchObject({ status: 200, body: '{"status":"ok"}', connection: 'keep-alive' });
    expect(await get(port, '/live', { agent })).toMatchObject({ status: 200, body: '{"status":"ok"}', connection: 'keep-alive' });
    expect(await get(port, '/hello', { agent })).toMatchObject({ status: 200, connection: 'keep-alive' });
    expect(app.get(ZeroDowntimeService).isDraining()).toBe(false);
    agent.destroy();
  });

  it('removes the signal listeners of app.enableShutdownHooks(), which would race the drain', async () => {
    const app = await create(platform, ZeroDowntimeModule.forRoot(quiet));
    const before = process.listenerCount('SIGTERM');
    app.enableShutdownHooks();
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    enableZeroDowntime(app);
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });
});

describe('ZeroDowntimeModule without enableZeroDowntime(app)', () => {
  it('warns through the given Nest logger once the server listens', async () => {
    const warnings: string[] = [];
    const logger = { log: () => {}, error: () => {}, warn: (message: string) => warnings.push(message) };
    const app = await create('express', ZeroDowntimeModule.forRoot({ ...quiet, logger }));
    await listen(app);
    expect(warnings).toEqual([expect.stringContaining('enableZeroDowntime(app) was not called before app.listen()')]);
  });
});

describe('ZeroDowntimeModule as an injectable', () => {
  it('lets a provider inject ZeroDowntimeService', async () => {
    @Injectable()
    class UsesDrain {
      constructor(@Inject(ZeroDowntimeService) readonly zeroDowntime: ZeroDowntimeService) {}
    }
    @Module({ imports: [ZeroDowntimeModule.forRoot(quiet)], providers: [UsesDrain] })
    class AppModule {}
    const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false, abortOnError: false });
    await app.init();
    expect(app.get(UsesDrain).zeroDowntime.isDraining()).toBe(false);
  });
});
