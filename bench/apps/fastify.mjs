// Fastify app for the bench: the same route contract as plain.cjs (GET /ping, POST /echo).
// BENCH_ADAPTER=1 adds this project's plugin; otherwise bare Fastify.
import common from './common.cjs';
import { fastifyApp } from './frameworks.mjs';

common.bootRelease();

const app = await fastifyApp(process.env.BENCH_ADAPTER === '1');
await app.listen({ port: common.port(), host: '127.0.0.1' });
common.announceReady();
