import express from 'express';
import { zeroDowntime, onShutdown } from '@zero-downtime/express';
import { createDatabase } from './database.mjs';

const database = createDatabase();
const app = express();

// The one-line integration, first, before the routes: drain on restart, readiness turns 503 while draining.
app.use(zeroDowntime({ readinessPath: '/ready', livenessPath: '/live' }));

app.use(express.text({ type: '*/*' }));
app.get('/', (request, response) => response.json({ hello: 'world', pid: process.pid }));
app.get('/echo', async (request, response) => {
  const { rows } = await database.query(request.query.v ?? '');
  response.type('text').send(rows[0].text);
});
app.post('/echo', (request, response) => response.type('text').send(request.body));

// Database-style cleanup: runs after the HTTP drain, so after the last response.
onShutdown(() => database.end(), { name: 'database' });

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
app.listen(port, host, () => console.log(`[worker ${process.pid}] listening on http://${host}:${port}`));
