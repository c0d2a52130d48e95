// NestJS app for the bench: the same route contract as plain.cjs (GET /ping, POST /echo). Plain JavaScript,
// so decorators are applied as functions. BENCH_ADAPTER=1 imports this project's
// module; otherwise bare Nest on Express.
import 'reflect-metadata';
import * as nestCommon from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { contractController } from '@zero-downtime/testkit/app';
import common from './common.cjs';

common.bootRelease();

const adapter = process.env.BENCH_ADAPTER === '1' ? await import('@zero-downtime/nest') : undefined;
class AppModule {}
nestCommon.Module({
  imports: adapter ? [adapter.ZeroDowntimeModule.forRoot({ logger: false })] : [],
  controllers: [contractController(nestCommon)],
})(AppModule);

const app = await NestFactory.create(AppModule, { logger: false });
if (adapter) adapter.enableZeroDowntime(app);
await app.listen(common.port(), '127.0.0.1');
common.announceReady();
