'use strict';
// The app side of the route contract the load client checks, for fixture apps on plain node:http (framework apps
// declare the two routes with their own router), and the cleanup line the standalone tests read.
//   GET /ping -> { pid }        POST /echo { data } -> { data, pid }

function reply(response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/**
 * Answers the request if it is one of the contract's two routes and returns true; returns false otherwise, for the
 * app's own routes. `extra` joins the /ping answer (a release name, a generation).
 */
function serveContract(request, response, extra = {}) {
  const pathname = request.url.split('?')[0];
  if (request.method === 'GET' && pathname === '/ping') {
    reply(response, 200, { pid: process.pid, ...extra });
    return true;
  }
  if (request.method === 'POST' && pathname === '/echo') {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => (text += chunk));
    request.on('end', () => {
      let data;
      try {
        data = JSON.parse(text).data;
      } catch {
        return reply(response, 400, { error: 'the body must be JSON: { "data": ... }', pid: process.pid });
      }
      reply(response, 200, { data, pid: process.pid });
    });
    return true;
  }
  return false;
}

/**
 * The two routes as a NestJS controller, decorated with the app's own `@nestjs/common` (passed in: the testkit does
 * not depend on Nest), for apps in plain JavaScript that apply decorators as functions.
 */
function contractController({ Body, Controller, Get, HttpCode, Post }) {
  class ContractController {
    ping() {
      return { pid: process.pid };
    }
    echo(body) {
      return { data: body.data, pid: process.pid };
    }
  }
  const method = (name) => [ContractController.prototype, name, Object.getOwnPropertyDescriptor(ContractController.prototype, name)];
  Controller()(ContractController);
  Get('ping')(...method('ping'));
  Post('echo')(...method('echo'));
  HttpCode(200)(...method('echo'));
  Body()(ContractController.prototype, 'echo', 0);
  return ContractController;
}

/** Counts the requests a server has finished and still has in flight, whatever framework answers them. */
function countRequests(server) {
  const counts = { finished: 0, inFlight: 0 };
  server.on('request', (_request, response) => {
    counts.inFlight += 1;
    response.once('close', () => {
      counts.inFlight -= 1;
      counts.finished += 1;
    });
  });
  return counts;
}

/**
 * Prints `cleanup {"finished":…,"inFlight":…,…}` from the app's own cleanup (a pool closed in onShutdown, onClose,
 * onModuleDestroy): a standalone test checks it ran after the last response.
 */
function printCleanup(counts, details = {}) {
  process.stdout.write(`cleanup ${JSON.stringify({ finished: counts.finished, inFlight: counts.inFlight, ...details })}\n`);
}

// A self-signed certificate for 127.0.0.1 and localhost, valid 100 years, for tests only (https and HTTP/2 over TLS).
const key = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFif1ln8IBrWqss5Y
feh2H4J+N1BNn+E6z6B7uzq7yUShRANCAARcAumpQp1AyffsrfV+yisb7Am8twa7
OLB8qG3mTQrM4+A6V3PjWlNC86ZRHS1WXr7CpVG1kNlAZb6jLiNqW/DD
-----END PRIVATE KEY-----`;
const cert = `-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUESVY8ghYpqfve6coWGDQ1ezbHW8wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTE1MjY1NFoYDzIxMjYxMTAx
MTUyNjU0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARcAumpQp1AyffsrfV+yisb7Am8twa7OLB8qG3mTQrM4+A6V3PjWlNC
86ZRHS1WXr7CpVG1kNlAZb6jLiNqW/DDo28wbTAdBgNVHQ4EFgQUlv1bSsxPuFJ5
kYH9ft7P3g6WP+AwHwYDVR0jBBgwFoAUlv1bSsxPuFJ5kYH9ft7P3g6WP+AwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDRwAwRAIgQsIxDS3FbJaaUHI4inrIcwYp04TYWSsJfDaGLZ/YYDMCICu8
IOyph6NBVuFLqL1USheZKckkqlaM36HHSwpMY9KU
-----END CERTIFICATE-----`;
const testCertificate = { key, cert };

module.exports = { serveContract, contractController, countRequests, printCleanup, testCertificate };
