/**
 * Malformed control requests against a real `zdt start` and its real control socket: each is answered with
 * ERR_ZDT_USAGE naming what was received, nothing is carried out (no rollout, no scale, no stop), the supervisor stays
 * up and `zdt status` answers afterwards.
 */
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import path from 'node:path';
import { isAlive, zdt, zdtStart } from '@zero-downtime/testkit';
import { fixture, testContext } from './helpers.js';

const context = testContext();

/** Sends one raw request line and collects every line answered until the supervisor closes the connection. */
function ask(socketPath: string, line: string): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text.split('\n').filter(Boolean).map((answer) => JSON.parse(answer) as Record<string, unknown>)));
  });
}

/** Each hostile request, and what its error message must name of what was received. */
const HOSTILE: Array<[request: string, named: string]> = [
  ['null', 'received null'],
  ['[]', 'received []'],
  ['[{"command":"reload"}]', 'received [{"command":"reload"}]'],
  ['42', 'received 42'],
  ['"reload"', 'received "reload"'],
  ['true', 'received true'],
  ['not json {', 'received "not json {"'],
  ['{}', 'missing "command"'],
  ['{"command":null}', 'unknown control command null'],
  ['{"command":5}', 'unknown control command 5'],
  ['{"command":"explode"}', 'unknown control command "explode"'],
  ['{"command":"reload","extra":1}', 'unknown key "extra"'],
  ['{"command":"stop","force":true}', 'unknown key "force"'],
  ['{"command":"status","json":true}', 'unknown key "json"'],
  ['{"command":"scale"}', 'missing "workers"'],
  ['{"command":"scale","workers":"3"}', '"workers" must be a number, received "3"'],
  ['{"command":"scale","workers":3,"extra":1}', 'unknown key "extra"'],
  ['{"command":"upgrade","node":5}', '"node" must be a string, received 5'],
  ['{"command":"upgrade","timeoutMs":-1}', 'received -1'],
];

describe('a malformed control request', () => {
  it('is refused with ERR_ZDT_USAGE naming what was received, and nothing is carried out', async () => {
    const directory = context.scratchDirectory();
    const socketPath = path.join(directory, 'zdt.sock');
    const running = zdtStart([fixture('app.cjs'), '--workers', '1', '--control', socketPath]);
    await running.waitForLine(/supervisor pid \d+ running/);
    const before = await zdt(['status', '--json', '--control', socketPath]);
    expect(before.code).toBe(0);
    const first = JSON.parse(before.stdout) as { generation: number; workers: Array<{ pid: number }> };

    for (const [request, named] of HOSTILE) {
      const answers = await ask(socketPath, request);
      expect({ request, answers }).toEqual({ request, answers: [expect.objectContaining({ type: 'error', ok: false, code: 'ERR_ZDT_USAGE' })] });
      expect(answers[0]!.message, request).toContain(named);
    }

    // Nothing was carried out: the same generation and worker, no rollout, no scale, no stop.
    expect(isAlive(running.pid!)).toBe(true);
    const after = await zdt(['status', '--json', '--control', socketPath]);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({
      state: 'running',
      generation: first.generation,
      lastRollout: null,
      workersWanted: 1,
      workers: [{ pid: first.workers[0]!.pid }],
    });
    expect(running.output.join('\n')).not.toMatch(/rollout of generation|scaling from|stopping/);

    const stop = await zdt(['stop', '--control', socketPath]);
    expect(stop.code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });
});
