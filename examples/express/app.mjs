import express from 'express';
import { zeroDowntime, onShutdown } from '@zero-downtime/express';
import { createDatabase } from './database.mjs';

const database = createDatabase();
const app = express();

// The one-line integration, first, before the routes: drain on restart, readiness turns 503 while draining.
app.use(zeroDowntime({ readinessPath: '/ready', livenessPath: '/live' }));

app.use(express.json());
app.get('/ping', (request, response) => response.json({ pid: process.pid }));
// Uses the database: the pool has to stay open until the last of these is answered.
app.post('/echo', async (request, response) => {
  const { rows } = await database.query(request.body.data);
  response.json({ data: rows[0].text, pid: process.pid });
});

// Database-style cleanup: runs after the HTTP drain, so after the last response.
onShutdown(() => database.end(), { name: 'database' });

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const server = app.listen(port, host, () => console.log(`[worker ${process.pid}] listening on http://${host}:${port}`));
// Behind a proxy that keeps idle upstream connections (nginx keepalive_timeout 60 s, AWS ALB 60 s), the app must keep
// them longer than the proxy, or the proxy sends a request on a connection the app is closing and answers 502. Node's
// default is 5 s. headersTimeout stays above keepAliveTimeout.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
