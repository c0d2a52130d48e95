// Plain JavaScript so the example runs without a build step: the decorators are
// applied as functions (in TypeScript these are the usual @Module, @Controller,
// @Get... see README.md).
import 'reflect-metadata';
import { Body, Controller, Get, HttpCode, Inject, Injectable, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ZeroDowntimeModule, enableZeroDowntime } from '@zero-downtime/nest';
import { createDatabase } from './database.mjs';

/** Database-style cleanup: Nest calls onModuleDestroy after the HTTP drain, after the last response. */
class DatabaseService {
  database = createDatabase();
  query(text) {
    return this.database.query(text);
  }
  onModuleDestroy() {
    return this.database.end();
  }
}
Injectable()(DatabaseService);

class EchoController {
  constructor(database) {
    this.database = database;
  }
  ping() {
    return { pid: process.pid };
  }
  // Uses the database: the pool has to stay open until the last of these is answered.
  async echo(body) {
    return { data: (await this.database.query(body.data)).rows[0].text, pid: process.pid };
  }
}
const route = (name) => [EchoController.prototype, name, Object.getOwnPropertyDescriptor(EchoController.prototype, name)];
Controller()(EchoController);
Inject(DatabaseService)(EchoController, undefined, 0);
Get('ping')(...route('ping'));
Post('echo')(...route('echo'));
HttpCode(200)(...route('echo'));
Body()(EchoController.prototype, 'echo', 0);

class AppModule {}
Module({
  // The one-line integration (plus enableZeroDowntime(app) below, in place of enableShutdownHooks()).
  imports: [ZeroDowntimeModule.forRoot({ readinessPath: '/ready', livenessPath: '/live' })],
  controllers: [EchoController],
  providers: [DatabaseService],
})(AppModule);

const app = enableZeroDowntime(await NestFactory.create(AppModule, { logger: ['error', 'warn'] }));
// Behind a proxy that keeps idle upstream connections (nginx keepalive_timeout 60 s, AWS ALB 60 s), the app must keep
// them longer than the proxy, or the proxy sends a request on a connection the app is closing and answers 502. Node's
// default is 5 s. headersTimeout stays above keepAliveTimeout.
const server = app.getHttpServer();
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
await app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1');
console.log(`[worker ${process.pid}] listening on ${await app.getUrl()}`);
