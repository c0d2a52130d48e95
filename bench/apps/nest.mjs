// NestJS app for the bench: the same /echo contract as plain.cjs. Plain JavaScript,
// so decorators are applied as functions. BENCH_ADAPTER=1 imports this project's
// module; otherwise bare Nest on Express.
import 'reflect-metadata';
import { Body, Controller, Get, HttpCode, Module, Post, Query } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import common from './common.cjs';

common.bootRelease();

class EchoController {
  get(value) {
    return value ?? 'ok';
  }
  post(body) {
    return body;
  }
}
const method = (name) => [EchoController.prototype, name, Object.getOwnPropertyDescriptor(EchoController.prototype, name)];
Controller()(EchoController);
Get('echo')(...method('get'));
Query('v')(EchoController.prototype, 'get', 0);
Post('echo')(...method('post'));
HttpCode(200)(...method('post'));
Body()(EchoController.prototype, 'post', 0);

const adapter = process.env.BENCH_ADAPTER === '1' ? await import('@zero-downtime/nest') : undefined;
class AppModule {}
Module({
  imports: adapter ? [adapter.ZeroDowntimeModule.forRoot({ logger: false })] : [],
  controllers: [EchoController],
})(AppModule);

const app = await NestFactory.create(AppModule, { logger: false });
app.useBodyParser('text', { type: '*/*' });
if (adapter) adapter.enableZeroDowntime(app);
await app.listen(common.port(), '127.0.0.1');
common.announceReady();
