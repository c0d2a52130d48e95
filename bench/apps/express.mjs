// Express app for the bench: the same /echo contract as plain.cjs.
// BENCH_ADAPTER=1 adds this project's one-line integration; otherwise bare Express.
import express from 'express';
import common from './common.cjs';

common.bootRelease();

const app = express();
app.use(express.text({ type: '*/*' }));
app.get('/echo', (request, response) => response.type('text').send(request.query.v ?? 'ok'));
app.post('/echo', (request, response) => response.type('text').send(request.body));

const server = app.listen(common.port(), '127.0.0.1', () => common.announceReady());
