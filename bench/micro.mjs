// The per-request path without a network: the framework alone beside the framework with its zero-downtime
// integration, each served over in-memory connections (a pair of Duplex streams handed to the server's 'connection'
// event, as node documents) and measured in short batches of CPU time taken in turn. Real node:http parsing,
// IncomingMessage and ServerResponse, the framework's router, and whatever the integration does per request:
// nothing is mocked but the wire.
//
//   node bench/micro.mjs --framework node:http|express|fastify|nest [--rounds 201] [--max-rounds 697] [--target-width 0.03]
//                        [--rounds-per-pair 41] [--batch-ms 30] [--warm-up-ms 1000] [--same] [--cpu N]
//
// Each side lives in a process of its own, started by this one (`--side bare|adapted`), so that whatever loading the
// worker side does to a whole process (a diagnostics channel subscribed to, a prototype patched) is in the figure:
// in one process the bare server would pay it too. This process asks them for a batch in turn, A B then B A; each
// side counts its own CPU time for the batch (`process.cpuUsage()`) and answers over IPC. `--same` runs the bare
// framework on both sides: the ratio two identical processes give, the noise floor of the method.
//
// The sides run under `node --single-threaded` (V8: no background compilation or garbage collection threads): all of
// a side's work is on the thread its requests run on, so a batch's CPU time is that batch's work, not whatever a
// helper thread happened to do meanwhile.
//
// Prints one JSON object: the CPU time per request (µs) of each batch, for each side, in the order they ran. The
// client half of each exchange (one write, counting the answer's bytes) runs in the side's process and costs both
// sides alike.
import http from 'node:http';
import { fork, spawnSync } from 'node:child_process';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { pairedRatios, summarize } from './lib/stats.mjs';
import { expressApp, fastifyApp, nestApp } from './apps/frameworks.mjs';

const { values: flags } = parseArgs({
  options: {
    framework: { type: 'string', default: 'node:http' },
    rounds: { type: 'string', default: '201' },
    'max-rounds': { type: 'string', default: '697' },
    'target-width': { type: 'string', default: '0.03' },
    'batch-ms': { type: 'string', default: '30' },
    connections: { type: 'string', default: '4' },
    'rounds-per-pair': { type: 'string', default: '41' },
    cpu: { type: 'string' },
    'warm-up-ms': { type: 'string', default: '1000' },
    side: { type: 'string' },
    same: { type: 'boolean', default: false },
  },
});
const rounds = Number(flags.rounds);
const batchMs = Number(flags['batch-ms']);
const connectionCount = Number(flags.connections);
const roundsPerPair = Number(flags['rounds-per-pair']);
const maxRounds = Math.max(rounds, Number(flags['max-rounds']));
const targetWidth = Number(flags['target-width']);
const warmUpMs = Number(flags['warm-up-ms']);
const require = createRequire(import.meta.url);
const { serveContract } = require('@zero-downtime/testkit/app');

/**
 * The worker side, loaded as an app would load it, on the adapted side only, with its defaults (quiet). Not with
 * `signals: false` or `handleUncaughtExceptions: false`, which this harness once passed: taking back the signal
 * listeners the worker side installs at load made Fastify's request path 1.5 to 4% slower here (an app that passes
 * them pays the same; an app with the defaults, as the bench's, does not).
 */
async function loadWorkerSide() {
  const worker = await import('@zero-downtime/core/worker');
  worker.configure({ logger: false });
  return worker;
}

/** Two Duplex streams wired to each other: what one writes, the other reads. */
function connectionPair() {
  const ends = [];
  const end = (peer) =>
    new Duplex({
      read() {},
      write(chunk, _encoding, callback) {
        ends[peer].push(chunk);
        callback();
      },
      final(callback) {
        ends[peer].push(null);
        callback();
      },
    });
  ends.push(end(1), end(0));
  return { client: ends[0], server: ends[1] };
}

/** A served node:http server (not listening: connections are handed to it) for each side. */
async function build(framework, adapted) {
  const worker = adapted ? await loadWorkerSide() : undefined;
  if (framework === 'node:http') {
    const server = http.createServer((request, response) => {
      if (!serveContract(request, response)) response.writeHead(404).end();
    });
    // The one line a plain node:http app adds.
    if (adapted) worker.manageServer(server);
    return server;
  }
  if (framework === 'express') {
    const server = http.createServer(await expressApp(adapted));
    if (adapted) worker.manageServer(server);
    return server;
  }
  if (framework === 'fastify') {
    const app = await fastifyApp(adapted);
    await app.ready();
    // What the plugin does at onListen; nothing listens here.
    if (adapted) worker.manageServer(app.server);
    return app.server;
  }
  if (framework === 'nest') {
    const app = await nestApp(adapted);
    await app.init();
    const server = app.getHttpServer();
    // What the module does once the server listens; nothing listens here.
    if (adapted) worker.manageServer(server);
    return server;
  }
  throw new Error(`unknown framework ${framework}`);
}

const REQUEST = Buffer.from('GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n');

/**
 * Keep-alive connections into `server`, each sending its next request once the whole answer arrived. The answer
 * has the same length every time (the Date header is fixed-width), learnt from the first one (by its content-length,
 * or the last chunk of a chunked body).
 */
async function connect(server) {
  const connections = [];
  for (let index = 0; index < connectionCount; index += 1) {
    const { client, server: serverSide } = connectionPair();
    server.emit('connection', serverSide);
    const connection = { client, answerBytes: 0, pending: 0, remaining: 0, done: undefined };
    client.on('data', (chunk) => {
      connection.pending += chunk.length;
      while (connection.answerBytes > 0 && connection.pending >= connection.answerBytes) {
        connection.pending -= connection.answerBytes;
        connection.remaining -= 1;
        if (connection.remaining > 0) client.write(REQUEST);
        else connection.done();
      }
    });
    // The first answer tells its length.
    connection.answerBytes = await new Promise((resolve, reject) => {
      let text = '';
      const onData = (chunk) => {
        text += chunk.toString('latin1');
        const headerEnd = text.indexOf('\r\n\r\n');
        if (headerEnd < 0) return;
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, headerEnd));
        // Without a length the body is chunked (writeHead, then end): it ends with the last, empty chunk.
        const lastChunk = text.indexOf('\r\n0\r\n\r\n', headerEnd);
        const total = length ? headerEnd + 4 + Number(length[1]) : lastChunk < 0 ? Number.POSITIVE_INFINITY : lastChunk + 7;
        if (text.length < total) return;
        client.off('data', onData);
        if (!text.startsWith('HTTP/1.1 200')) reject(new Error(`${flags.framework}: ${text.slice(0, 200)}`));
        resolve(total);
      };
      client.prependListener('data', onData);
      client.write(REQUEST);
    });
    // The first answer's bytes were counted as they came: start from zero.
    connection.pending = 0;
    connections.push(connection);
  }
  return connections;
}

/** Sends `count` requests spread over the connections; resolves when every answer arrived. */
function send(connections, count) {
  const share = Math.ceil(count / connections.length);
  return Promise.all(
    connections.map(
      (connection) =>
        new Promise((resolve) => {
          connection.remaining = share;
          connection.done = resolve;
          connection.client.write(REQUEST);
        }),
    ),
  ).then(() => share * connections.length);
}

/** CPU time (user + system) per request over one batch, in µs. */
async function batch(connections, count) {
  const before = process.cpuUsage();
  const sent = await send(connections, count);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / sent;
}

/** A side: builds its app, opens its connections, then runs each batch it is asked for. */
async function serveSide(side) {
  const server = await build(flags.framework, side === 'adapted');
  const connections = await connect(server);
  process.on('message', (message) => {
    void batch(connections, message.batch).then((perRequestUs) => process.send({ perRequestUs }));
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}

/** Starts both sides as processes of their own; `next()` resolves with a side's next message. */
function startSides(firstStarted) {
  const here = fileURLToPath(import.meta.url);
  const start = (side) => {
    const child = fork(here, ['--framework', flags.framework, '--side', side, '--connections', String(connectionCount)], {
      execArgv: ['--single-threaded'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // Both sides on one processor, taking turns on it: same caches, no migration mid-batch (where the OS allows).
    if (flags.cpu !== undefined) spawnSync('taskset', ['-a', '-p', '-c', flags.cpu, String(child.pid)], { stdio: 'ignore' });
    const replies = [];
    const waiting = [];
    child.on('message', (message) => (waiting.length ? waiting.shift()(message) : replies.push(message)));
    const failed = new Promise((_, reject) => child.once('exit', (code, signal) => reject(new Error(`the ${side} side exited (${signal ?? code})`))));
    failed.catch(() => {});
    const next = () => Promise.race([new Promise((resolve) => (replies.length ? resolve(replies.shift()) : waiting.push(resolve))), failed]);
    return { child, next };
  };
  // Which side starts first alternates from pair to pair (two processes booting side by side do not end up alike).
  if (firstStarted === 'adapted') {
    const adapted = start(flags.same ? 'bare' : 'adapted');
    return { bare: start('bare'), adapted };
  }
  return { bare: start('bare'), adapted: start(flags.same ? 'bare' : 'adapted') };
}

/**
 * Takes batches from both sides in turn, `roundsPerPair` rounds from each pair of processes, pair after pair: two
 * processes running the same code differ by a percent or several (where their memory landed, how their start went),
 * and many pairs spread that over both sides. At least `rounds` rounds; then more pairs while the 95% confidence
 * interval of the median ratio is wider than `targetWidth` and straddles 1 + `targetWidth`, up to `maxRounds`: a
 * noisy framework or a busy machine gets more runs, not a figure it cannot support.
 */
async function conduct() {
  const samples = { bare: [], adapted: [] };
  let batchSize = 0;
  let pairs = 0;
  const settled = () => {
    if (samples.bare.length < rounds) return false;
    const ratio = summarize(pairedRatios(samples.bare, samples.adapted));
    const decided = ratio.ciHigh - ratio.ciLow <= targetWidth || ratio.ciHigh <= 1 + targetWidth || ratio.ciLow > 1 + targetWidth;
    return decided || samples.bare.length + roundsPerPair > maxRounds;
  };
  while (!settled()) {
    const sides = startSides(pairs % 2 ? 'adapted' : 'bare');
    pairs += 1;
    try {
      await Promise.all([sides.bare.next(), sides.adapted.next()]);
      const ask = async (side, count) => {
        sides[side].child.send({ batch: count });
        return (await sides[side].next()).perRequestUs;
      };
      // Warm-up (JIT, caches) on both for about warmUpMs of CPU each; the first pair sets one batch size for all,
      // worth about batchMs of CPU on the slower side.
      let perRequestUs = Math.max(await ask('bare', 500), await ask('adapted', 500));
      const warmUpCount = Math.max(500, Math.round((warmUpMs * 1_000) / perRequestUs / 4));
      for (let step = 0; step < 4; step += 1) perRequestUs = Math.max(await ask('bare', warmUpCount), await ask('adapted', warmUpCount));
      batchSize ||= Math.max(20, Math.round((batchMs * 1_000) / perRequestUs));
      for (let round = 0; round < roundsPerPair; round += 1) {
        // A B, then B A: a drift over time falls on both sides alike.
        const order = round % 2 ? ['adapted', 'bare'] : ['bare', 'adapted'];
        for (const side of order) samples[side].push(await ask(side, batchSize));
      }
    } finally {
      for (const { child } of Object.values(sides)) if (child.connected) child.disconnect();
    }
  }
  process.stdout.write(`${JSON.stringify({ framework: flags.framework, same: flags.same, node: process.version, batchSize, pairs, rounds: samples.bare.length, samples })}\n`);
}

if (flags.side) await serveSide(flags.side);
else await conduct();
