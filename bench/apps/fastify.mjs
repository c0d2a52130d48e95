// Fastify app for the bench: the same route contract as plain.cjs (GET /ping, POST /echo).
// BENCH_ADAPTER=1 adds this project's plugin; otherwise bare Fastify.
import Fastify from 'fastify';
import common from './common.cjs';

common.bootRelease();

const app = Fastify({ logger: false });
if (process.env.BENCH_ADAPTER === '1') {
  const { default: zeroDowntime } = await import('@zero-downtime/fastify');
  await app.register(zeroDowntime);
}
app.get('/ping', async () => ({ pid: process.pid }));
app.post('/echo', async (request) => ({ data: request.body.data, pid: process.pid }));

await app.listen({ port: common.port(), host: '127.0.0.1' });
common.announceReady();
