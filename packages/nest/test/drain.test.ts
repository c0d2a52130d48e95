import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Controller, Get, Inject, Injectable, Module, type OnModuleDestroy } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { describe, expect, it } from 'vitest';
import { ZeroDowntimeModule, ZeroDowntimeService, enableZeroDowntime } from '../src/index.js';
import { get } from '@zero-downtime/testkit';

const events: string[] = [];
const logged: string[] = [];
const logger = { log: (message: string) => logged.push(message), warn: (message: string) => logged.push(message), error: (message: string) => logged.push(message) };
let release!: () => void;
const released = new Promise<void>((resolve) => (release = resolve));
let started!: () => void;
const slowStarted = new Promise<void>((resolve) => (started = resolve));

/** Stands for a database pool: it must stay open until the last request is answered. */
@Injectable()
class Database implements OnModuleDestroy {
  onModuleDestroy() {
    events.push('database closed');
  }
}

@Controller()
class SlowController {
  constructor(@Inject(Database) private readonly database: Database) {}

  @Get('slow')
  async slow() {
    started();
    await released;
    events.push('slow answered');
    return { slow: true, database: this.database instanceof Database };
  }

  @Get('hello')
  hello() {
    return { hello: 'world' };
  }
}

@Module({
  imports: [
    ZeroDowntimeModule.forRoot({ readinessPath: '/ready', livenessPath: '/live', signals: false, exit: false, handleUncaughtExceptions: false, logger }),
  ],
  controllers: [SlowController],
  providers: [Database],
})
class AppModule {}

// This file starts the process-wide drain (with exit: false); it stays one test on purpose.
describe('ZeroDowntimeModule during a drain (platform-express)', () => {
  it('flips readiness to 503, closes connections after responses, and destroys providers after the last request', async () => {
    const app = enableZeroDowntime(await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false, abortOnError: false }));
    await app.listen(0, '127.0.0.1');
    const { port } = (app.getHttpServer() as http.Server).address() as AddressInfo;
    const zeroDowntime = app.get(ZeroDowntimeService);

    const slow = get(port, '/slow', { agent: new http.Agent({ keepAlive: true }) });
    await slowStarted;
    // An idle keep-alive connection opened before the drain: it is served (with Connection: close) during the grace.
    const idle = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(port, '/hello', { agent: idle })).connection).toBe('keep-alive');

    const drained = zeroDowntime.shutdown('test');
    expect(zeroDowntime.isDraining()).toBe(true);

    expect(await get(port, '/ready', { agent: idle })).toMatchObject({ status: 503, body: '{"status":"draining"}', connection: 'close' });
    expect(events).toEqual([]);

    release();
    const slowAnswer = await slow;
    expect(slowAnswer).toMatchObject({ status: 200, connection: 'close' });
    expect(JSON.parse(slowAnswer.body)).toEqual({ slow: true, database: true });

    const report = await drained;
    expect(report).toMatchObject({ reason: 'test', cut: 0 });
    expect(events).toEqual(['slow answered', 'database closed']);
    expect(logged).toEqual(expect.arrayContaining([expect.stringMatching(/draining/)]));
    idle.destroy();
  });
});
