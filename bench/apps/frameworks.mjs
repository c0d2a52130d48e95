// The framework apps of the bench, one definition for both of its uses: bench/apps/<framework>.mjs listens on a
// port (the scenarios over the network), bench/micro.mjs hands in-memory connections to the server (the request path
// without a network). Each serves the route contract (GET /ping, POST /echo), bare or with this project's integration
// at its defaults (`adapted`), and is returned built but not listening.
import { contractController } from '@zero-downtime/testkit/app';

/** Express, with `app.use(zeroDowntime())` first when adapted. */
export async function expressApp(adapted) {
  const { default: express } = await import('express');
  const app = express();
  if (adapted) app.use((await import('@zero-downtime/express')).zeroDowntime());
  app.use(express.json());
  app.get('/ping', (_request, response) => response.json({ pid: process.pid }));
  app.post('/echo', (request, response) => response.json({ data: request.body.data, pid: process.pid }));
  return app;
}

/** Fastify, with `app.register(zeroDowntime)` when adapted. */
export async function fastifyApp(adapted) {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  if (adapted) await app.register((await import('@zero-downtime/fastify')).default);
  app.get('/ping', async () => ({ pid: process.pid }));
  app.post('/echo', async (request) => ({ data: request.body.data, pid: process.pid }));
  return app;
}

/** NestJS on Express (plain JavaScript: decorators applied as functions), with the module and `enableZeroDowntime(app)` when adapted. */
export async function nestApp(adapted) {
  await import('reflect-metadata');
  const nestCommon = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const adapter = adapted ? await import('@zero-downtime/nest') : undefined;
  class AppModule {}
  nestCommon.Module({
    imports: adapter ? [adapter.ZeroDowntimeModule.forRoot({ logger: false })] : [],
    controllers: [contractController(nestCommon)],
  })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: false });
  if (adapter) adapter.enableZeroDowntime(app);
  return app;
}
