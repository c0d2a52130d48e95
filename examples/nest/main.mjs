// Plain JavaScript so the example runs without a build step: the decorators are
// applied as functions (in TypeScript these are the usual @Module, @Controller,
// @Get... see README.md).
import 'reflect-metadata';
import { Body, Controller, Get, HttpCode, Inject, Injectable, Module, Post, Query } from '@nestjs/common';
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
  hello() {
    return { hello: 'world', pid: process.pid };
  }
  async echo(value) {
    return (await this.database.query(value ?? '')).rows[0].text;
  }
  echoBody(body) {
    return body;
  }
}
const route = (name) => [EchoController.prototype, name, Object.getOwnPropertyDescriptor(EchoController.prototype, name)];
Controller()(EchoController);
Inject(DatabaseService)(EchoController, undefined, 0);
Get()(...route('hello'));
Get('echo')(...route('echo'));
Query('v')(EchoController.prototype, 'echo', 0);
Post('echo')(...route('echoBody'));
HttpCode(200)(...route('echoBody'));
Body()(EchoController.prototype, 'echoBody', 0);

class AppModule {}
Module({
  // The one-line integration (plus enableZeroDowntime(app) below, in place of enableShutdownHooks()).
  imports: [ZeroDowntimeModule.forRoot({ readinessPath: '/ready', livenessPath: '/live' })],
  controllers: [EchoController],
  providers: [DatabaseService],
})(AppModule);

const app = enableZeroDowntime(await NestFactory.create(AppModule, { logger: ['error', 'warn'] }));
app.useBodyParser('text');
await app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1');
console.log(`[worker ${process.pid}] listening on ${await app.getUrl()}`);
