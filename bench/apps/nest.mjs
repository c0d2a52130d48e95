// NestJS app for the bench: the same route contract as plain.cjs (GET /ping, POST /echo). Plain JavaScript,
// so decorators are applied as functions. BENCH_ADAPTER=1 imports this project's
// module; otherwise bare Nest on Express.
import 'reflect-metadata';
import { Body, Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import common from './common.cjs';

common.bootRelease();

class EchoController {
  ping() {
    return { pid: process.pid };
  }
  echo(body) {
    return { data: body.data, pid: process.pid };
  }
}
const method = (name) => [EchoController.prototype, name, Object.getOwnPropertyDescriptor(EchoController.prototype, name)];
Controller()(EchoController);
Get('ping')(...method('ping'));
Post('echo')(...method('echo'));
HttpCode(200)(...method('echo'));
Body()(EchoController.prototype, 'echo', 0);

const adapter = process.env.BENCH_ADAPTER === '1' ? await import('@zero-downtime/nest') : undefined;
class AppModule {}
Module({
  imports: adapter ? [adapter.ZeroDowntimeModule.forRoot({ logger: false })] : [],
  controllers: [EchoController],
})(AppModule);

const app = await NestFactory.create(AppModule, { logger: false });
if (adapter) adapter.enableZeroDowntime(app);
await app.listen(common.port(), '127.0.0.1');
common.announceReady();
