import Fastify from 'fastify';
import zeroDowntime from '@zero-downtime/fastify';
import { createDatabase } from './database.mjs';

const database = createDatabase();
const app = Fastify({ logger: false });

// The one-line integration: drain on restart, readiness turns 503 while draining.
await app.register(zeroDowntime, { readinessPath: '/ready', livenessPath: '/live' });

app.get('/', async () => ({ hello: 'world', pid: process.pid }));
app.get('/echo', async (request) => (await database.query(request.query.v ?? '')).rows[0].text);
app.post('/echo', async (request) => request.body);

// Database-style cleanup: the plugin runs fastify.close() after the HTTP drain, so
// this happens after the last response, never under a request still using the pool.
app.addHook('onClose', async () => {
  await database.end();
});

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' });
console.log(`[worker ${process.pid}] listening on ${address}`);
