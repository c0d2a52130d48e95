import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { shutdown, zeroDowntime } from '../src/index.js';

const fromTestPackage = createRequire(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../test/package.json'));

// One drain per process, so this file drains once and checks both Express majors during it. shutdownDelayMs keeps
// the servers listening while readiness already answers 503 (what a load balancer sees when running alone).
const options = {
  signals: false,
  handleUncaughtExceptions: false,
  exit: false,
  logger: false,
  shutdownDelayMs: 60_000,
  readinessPath: '/readyz',
  livenessPath: '/livez',
} as const;

function build(expressPackage: string): http.Server {
  const express = fromTestPackage(expressPackage) as typeof import('express');
  const app = express();
  app.use(zeroDowntime(options));
  app.get('/', (_request, response) => {
    response.send('hello');
  });
  return http.createServer(app).listen(0, '127.0.0.1');
}

const servers = { 'Express 5': build('express'), 'Express 4': build('express4') };
const agent = new http.Agent({ keepAlive: true });

afterAll(() => {
  agent.destroy();
  for (const server of Object.values(servers)) server.closeAllConnections();
});

describe.each(Object.entries(servers))('%s', (_name, server) => {
  it('answers ready and keeps connections alive before the drain', async () => {
    await request(server).get('/readyz').agent(agent).expect(200, { status: 'ok' });
    await request(server).get('/').agent(agent).expect(200, 'hello').expect('connection', 'keep-alive');
  });
});

describe('while draining', () => {
  it('readiness answers 503, liveness 200, and every response carries Connection: close', async () => {
    void shutdown('test');
    for (const server of Object.values(servers)) {
      await request(server).get('/readyz').agent(agent).expect(503, { status: 'draining' }).expect('connection', 'close');
      await request(server).get('/livez').agent(agent).expect(200, { status: 'ok' }).expect('connection', 'close');
      await request(server).get('/').agent(agent).expect(200, 'hello').expect('connection', 'close');
    }
  });
});
