// Express app for the bench: the same /echo contract as plain.cjs.
// BENCH_ADAPTER=1 adds this project's one-line integration; otherwise bare Express.
import express from 'express';
import common from './common.cjs';

common.bootRelease();

const app = express();
if (process.env.BENCH_ADAPTER === '1') {
  const { zeroDowntime } = await import('@zero-downtime/express');
  app.use(zeroDowntime());
}
app.use(express.text({ type: '*/*' }));
app.get('/echo', (request, response) => response.type('text').send(request.query.v ?? 'ok'));
app.post('/echo', (request, response) => response.type('text').send(request.body));

app.listen(common.port(), '127.0.0.1', () => common.announceReady());
