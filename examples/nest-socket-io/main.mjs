// A NestJS Socket.IO gateway on several workers under zdt (`zdt start main.mjs --workers 2 --sticky sid`).
// Plain JavaScript so the example runs without a build step: the decorators are applied as functions (in
// TypeScript these are the usual @WebSocketGateway, @SubscribeMessage... see README.md).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { createAdapter } from '@socket.io/cluster-adapter';
import { manageSocketIo } from '@zero-downtime/core/worker';

class EventsGateway {
  // Sessions routed to this worker and closed properly when it drains; broadcasts carried to every worker.
  afterInit(server) {
    // Under zdt every worker is a cluster worker; run alone (node main.mjs) there is no cluster to carry broadcasts.
    if (process.send) server.adapter(createAdapter());
    manageSocketIo(server);
  }
  // The return value answers the client's acknowledgement.
  echo(value) {
    return { value, pid: process.pid };
  }
  // io.emit() from one worker reaches the clients of all of them.
  broadcast(id) {
    this.server.emit('news', id);
    return process.pid;
  }
}
const handler = (name) => [EventsGateway.prototype, name, Object.getOwnPropertyDescriptor(EventsGateway.prototype, name)];
WebSocketGateway()(EventsGateway);
WebSocketServer()(EventsGateway.prototype, 'server');
SubscribeMessage('echo')(...handler('echo'));
MessageBody()(EventsGateway.prototype, 'echo', 0);
SubscribeMessage('broadcast')(...handler('broadcast'));
MessageBody()(EventsGateway.prototype, 'broadcast', 0);

class AppModule {}
Module({ providers: [EventsGateway] })(AppModule);

// The HTTP side is drained by the worker side zdt preloads into every worker; add ZeroDowntimeModule.forRoot() and
// enableZeroDowntime(app) from @zero-downtime/nest (as in examples/nest) to run Nest's shutdown hooks after it.
const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
await app.listen(Number(process.env.PORT ?? 3000));
