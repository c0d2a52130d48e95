import Fastify from 'fastify';
import zeroDowntime from '@zero-downtime/fastify';
import { createDatabase } from './database.mjs';

const database = createDatabase();
const app = Fastify({ logger: false });

// The one-line integration: drain on restart, readiness turns 503 while draining.
await app.register(zeroDowntime, { readinessPath: '/ready', livenessPath: '/live' });

app.get('/ping', async () => ({ pid: process.pid }));
// Uses the database: the pool has to stay open until the last of these is answered.
app.post('/echo', async (request) => ({ data: (await database.query(request.body.data)).rows[0].text, pid: process.pid }));

// Database-style cleanup: the plugin runs fastify.close() after the HTTP drain, so
// this happens after the last response, never under a request still using the pool.
app.addHook('onClose', async () => {
  await database.end();
});

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' });
console.log(`[worker ${process.pid}] listening on ${address}`);
