// A plain node:http app serving the route contract: GET /ping → { pid }, POST /echo { data } → { data, pid }.
// BENCH_ADAPTER=1 hands its server to this project's worker side (the one line a
// plain node:http app needs). BENCH_PM2_GRACEFUL=1 does what PM2's docs advise for
// graceful start and shutdown: process.send('ready') once listening, close the
// server on SIGINT.
'use strict';
const http = require('node:http');
const { serveContract } = require('@zero-downtime/testkit/app');
const { bootRelease, announceReady, port } = require('./common.cjs');

bootRelease();

const server = http.createServer((request, response) => {
  if (!serveContract(request, response)) response.writeHead(404).end();
});

if (process.env.BENCH_ADAPTER === '1') require('@zero-downtime/core/worker').manageServer(server);

server.listen(port(), '127.0.0.1', () => {
  announceReady();
  if (process.env.BENCH_PM2_GRACEFUL === '1' && process.send) process.send('ready');
});

if (process.env.BENCH_PM2_GRACEFUL === '1') {
  process.on('SIGINT', () => {
    server.close(() => process.exit(0));
  });
}
