// Express app for the bench: the same route contract as plain.cjs (GET /ping, POST /echo).
// BENCH_ADAPTER=1 adds this project's one-line integration; otherwise bare Express.
import express from 'express';
import common from './common.cjs';

common.bootRelease();

const app = express();
if (process.env.BENCH_ADAPTER === '1') {
  const { zeroDowntime } = await import('@zero-downtime/express');
  app.use(zeroDowntime());
}
app.use(express.json());
app.get('/ping', (request, response) => response.json({ pid: process.pid }));
app.post('/echo', (request, response) => response.json({ data: request.body.data, pid: process.pid }));

app.listen(common.port(), '127.0.0.1', () => common.announceReady());
