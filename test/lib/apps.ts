/** The e2e apps, one fixture per framework, each serving the route contract the load client checks. */
import { fileURLToPath } from 'node:url';

export interface E2eApp {
  name: string;
  entry: string;
  env?: Record<string, string>;
}

export const appPath = (name: string) => fileURLToPath(new URL(`../fixtures/apps/${name}`, import.meta.url));

export const nodeHttp: E2eApp = { name: 'node:http with the worker module', entry: appPath('node-http.cjs') };
export const nodeHttpFoundByChannel: E2eApp = {
  name: 'node:http with the worker module, server not passed to manageServer()',
  entry: appPath('node-http.cjs'),
  env: { MANAGE_SERVER: 'no' },
};

/** Every adapter, Express in both majors and both ways of listening across the list, Nest on both platforms. */
export const frameworks: E2eApp[] = [
  { name: 'express 5', entry: appPath('express.mjs') },
  { name: 'express 4 (http.createServer)', entry: appPath('express.mjs'), env: { EXPRESS_VERSION: '4', EXPRESS_LISTEN: 'http.createServer' } },
  { name: 'fastify', entry: appPath('fastify.mjs') },
  { name: 'nest on platform-express', entry: appPath('nest.mjs'), env: { NEST_PLATFORM: 'express' } },
  { name: 'nest on platform-fastify', entry: appPath('nest.mjs'), env: { NEST_PLATFORM: 'fastify' } },
];
