/**
 * The control socket as a trust boundary: another uid listening on the path
 * is refused by every command, root's default lives in a root-only directory,
 * bad paths fail fast with exit 2 and leave nothing behind, idle connections
 * are closed and bounded, permission errors are named as such.
 *
 * These tests run as root (as CI does) and start processes as uid 65534
 * (nobody) to play the other user.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, waitFor, zdt, zdtStart } from '@zero-downtime/testkit';
import { fixture, memoryLogger, testContext } from './helpers.js';
import { ControlServer, defaultControlPath, sendControlCommand } from '../src/primary/control/server.js';
import { MAX_SOCKET_PATH_BYTES } from '../src/primary/control/socket-path.js';
import { Supervisor } from '../src/primary/supervisor.js';

const context = testContext();
const { cleanups, scratchDirectory } = context;

const NOBODY = 65534;

function assertRoot(): void {
  // Not a skip: these tests need root (CI runs as root) and must say so loudly elsewhere.
  if (process.getuid?.() !== 0) throw new Error(`control-socket tests must run as root (uid ${process.getuid?.()})`);
}

/** A root-owned 0755 scratch directory that uid 65534 can traverse. */
function publicDirectory(): string {
  const dir = scratchDirectory();
  chmodSync(dir, 0o755);
  return dir;
}

/** A directory owned by uid 65534 with `mode`, inside a public one. */
function nobodysDirectory(parent: string, name: string, mode: number): string {
  const dir = path.join(parent, name);
  mkdirSync(dir);
  chownSync(dir, NOBODY, NOBODY);
  chmodSync(dir, mode);
  return dir;
}

/** A fake supervisor: answers every request with success for "generation 99", and reports each connection. */
const SQUATTER = `
const net = require('node:net');
const fs = require('node:fs');
const socketPath = process.argv[2];
const data = {
  generation: 99, replaced: [{ workerId: 1 }, { workerId: 2 }], durationMs: 1,
  pid: 4242, state: 'running', workersWanted: 2, workers: [], entry: '/made/up.js', rollout: null, lastRollout: null, crashLoop: [],
};
net.createServer((socket) => {
  console.log('connection');
  socket.on('error', () => {});
  socket.on('data', () => socket.end(JSON.stringify({ type: 'result', ok: true, data }) + '\\n'));
}).listen(socketPath, () => {
  fs.chmodSync(socketPath, 0o777);
  console.log('listening');
});
`;

interface Squatter {
  connections: () => number;
  stop: () => Promise<void>;
}

async function startSquatter(directory: string, socketPath: string): Promise<Squatter> {
  const script = path.join(directory, 'squatter.cjs');
  writeFileSync(script, SQUATTER, { mode: 0o644 });
  const child = spawn(process.execPath, [script, socketPath], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
  // Meant to outlive the assertions: killed by pid when the test ends, whatever happened.
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const lines: string[] = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
  await waitFor(() => lines.includes('listening') || child.exitCode !== null, 'the squatter to listen');
  expect(lines).toContain('listening');
  expect(lstatSync(socketPath).uid).toBe(NOBODY);
  return {
    connections: () => lines.filter((line) => line === 'connection').length,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('control socket trust', () => {
  it.each([
    ['in its own directory', (base: string) => path.join(nobodysDirectory(base, 'squat', 0o700), 'zdt.sock')],
    [
      'in a root-owned world-writable sticky directory (like /tmp)',
      (base: string) => {
        const shared = path.join(base, 'shared');
        mkdirSync(shared);
        chmodSync(shared, 0o1777);
        return path.join(shared, 'zdt.sock');
      },
    ],
  ])('root refuses a squatter running as another uid %s: status, reload, stop and start exit 2 with ERR_ZDT_CONTROL_UNTRUSTED', async (_where, place) => {
    assertRoot();
    const base = publicDirectory();
    const socketPath = place(base);
    const squatter = await startSquatter(base, socketPath);

    for (const command of ['status', 'reload', 'stop']) {
      const result = await zdt([command, '--control', socketPath]);
      expect(result.code, `zdt ${command}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/^zdt: ERR_ZDT_CONTROL_UNTRUSTED: Refusing control socket /);
      expect(result.stderr).toContain(socketPath);
      expect(result.stderr).toMatch(/uid 65534 \(nobody\)/);
      expect(result.stdout).not.toMatch(/generation 99|reload done|stopped|4242|running/);
    }

    const start = zdtStart([fixture('app.cjs'), '--workers', '1', '--control', socketPath]);
    expect(await start.exited).toEqual({ code: 2, signal: null });
    expect(start.output.join('\n')).toMatch(/ERR_ZDT_CONTROL_UNTRUSTED: Refusing control socket .*uid 65534 \(nobody\)/);
    expect(start.output.join('\n')).not.toMatch(/Another supervisor|running/);
    expect(start.workerPids()).toEqual([]);
    // Refused before connecting: the fake supervisor never even saw a connection.
    expect(squatter.connections()).toBe(0);
    expect(lstatSync(socketPath).uid).toBe(NOBODY);
    await squatter.stop();
  });

  it('the library client refuses the same way (ControlUntrustedError)', async () => {
    assertRoot();
    const base = publicDirectory();
    const socketPath = path.join(nobodysDirectory(base, 'squat', 0o700), 'zdt.sock');
    const squatter = await startSquatter(base, socketPath);
    await expect(sendControlCommand(socketPath, 'status')).rejects.toMatchObject({
      name: 'ControlUntrustedError',
      code: 'ERR_ZDT_CONTROL_UNTRUSTED',
      path: socketPath,
      owner: NOBODY,
    });
    expect(squatter.connections()).toBe(0);
    await squatter.stop();
  });
});

describe('default control path', () => {
  it('is /run/zdt/zdt.sock for root whatever XDG_RUNTIME_DIR says; $ZDT_CONTROL overrides', () => {
    assertRoot();
    expect(defaultControlPath({})).toBe('/run/zdt/zdt.sock');
    expect(defaultControlPath({ XDG_RUNTIME_DIR: '/run/user/0' })).toBe('/run/zdt/zdt.sock');
    expect(defaultControlPath({ ZDT_CONTROL: 'relative/c.sock' })).toBe(path.resolve('relative/c.sock'));
  });

  it('for another uid: $XDG_RUNTIME_DIR/zdt.sock when it is private to that uid, else <tmpdir>/zdt-<uid>/zdt.sock', () => {
    assertRoot();
    const base = publicDirectory();
    const runtime = nobodysDirectory(base, 'runtime', 0o700);
    const script = `process.stdout.write(require(${JSON.stringify(fileURLToPath(new URL('../dist/index.cjs', import.meta.url)))}).defaultControlPath())`;
    const asNobody = (env: NodeJS.ProcessEnv) => {
      const result = spawnSync(process.execPath, ['-e', script], { env: { PATH: process.env.PATH, ...env }, uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 30_000 });
      expect(result.stderr).toBe('');
      return result.stdout;
    };
    expect(asNobody({ XDG_RUNTIME_DIR: runtime })).toBe(path.join(runtime, 'zdt.sock'));
    // Not private (a shared sticky directory, or root's own directory): the per-uid directory under tmpdir.
    expect(asNobody({ XDG_RUNTIME_DIR: '/tmp' })).toBe(path.join(os.tmpdir(), 'zdt-65534', 'zdt.sock'));
    expect(asNobody({ XDG_RUNTIME_DIR: base })).toBe(path.join(os.tmpdir(), 'zdt-65534', 'zdt.sock'));
    expect(asNobody({})).toBe(path.join(os.tmpdir(), 'zdt-65534', 'zdt.sock'));
  });

  it('zdt start as root without --control listens on /run/zdt/zdt.sock in a 0700 root directory', async () => {
    assertRoot();
    const env = { ...process.env };
    delete env.XDG_RUNTIME_DIR;
    delete env.ZDT_CONTROL;
    const createdHere = !existsSync('/run/zdt');
    if (createdHere) {
      cleanups.push(() => {
        // Leave the machine as found, unless something else now lives there.
        try {
          rmdirSync('/run/zdt');
        } catch {
          // Gone already, or not empty.
        }
      });
    }
    const running = zdtStart([fixture('app.cjs'), '--workers', '1'], { env, replaceEnv: true });
    await running.waitForLine(/supervisor pid \d+ running/);
    expect(running.output.some((line) => /control socket \/run\/zdt\/zdt\.sock$/.test(line))).toBe(true);
    const directory = statSync('/run/zdt');
    expect(directory.uid).toBe(0);
    expect(directory.mode & 0o7777).toBe(0o700);
    const socket = lstatSync('/run/zdt/zdt.sock');
    expect(socket.isSocket()).toBe(true);
    expect(socket.uid).toBe(0);
    expect(socket.mode & 0o777).toBe(0o600);

    const status = await zdt(['status', '--json'], { env, replaceEnv: true });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ pid: running.child.pid, state: 'running' });
    const stop = await zdt(['stop'], { env, replaceEnv: true });
    expect(stop.code, stop.stderr).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.workerPids().filter(isAlive)).toEqual([]);
    expect(existsSync('/run/zdt/zdt.sock')).toBe(false);
  });
});

describe('control path validation', () => {
  it(`a path longer than ${MAX_SOCKET_PATH_BYTES} bytes: exit 2 with ERR_ZDT_CONTROL_PATH for every command, no hang, nothing created`, async () => {
    const dir = scratchDirectory();
    const socketPath = path.join(dir, `${'a'.repeat(MAX_SOCKET_PATH_BYTES)}.sock`);
    for (const args of [['start', fixture('app.cjs'), '--workers', '1'], ['status'], ['reload'], ['stop']]) {
      const result = await zdt([...args, '--control', socketPath], { timeoutMs: 30_000 });
      expect(result.signal, `zdt ${args[0]} hung`).toBeNull();
      expect(result.code, `zdt ${args[0]}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/^zdt: ERR_ZDT_CONTROL_PATH: Unusable control socket path /);
      expect(result.stderr).toContain(socketPath);
      expect(result.stderr).toMatch(new RegExp(`is ${Buffer.byteLength(socketPath)} bytes long; a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} bytes`));
      expect(result.stdout).not.toMatch(/forked/);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it('a missing directory: zdt start exits 2 with ERR_ZDT_CONTROL_PATH (no stack trace) and creates nothing', async () => {
    const dir = scratchDirectory();
    const socketPath = path.join(dir, 'missing', 'c.sock');
    const result = await zdt(['start', fixture('app.cjs'), '--workers', '1', '--control', socketPath]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toBe(`zdt: ERR_ZDT_CONTROL_PATH: Unusable control socket path ${socketPath}: ${path.join(dir, 'missing')} does not exist\n`);
    expect(result.stdout).not.toMatch(/forked/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a directory its user cannot write: zdt start exits 2 with ERR_ZDT_CONTROL_PERMISSION and creates nothing', async () => {
    assertRoot();
    const readOnly = nobodysDirectory(publicDirectory(), 'read-only', 0o500);
    const socketPath = path.join(readOnly, 'c.sock');
    const result = await zdt(['start', fixture('app.cjs'), '--workers', '1', '--control', socketPath], { uid: NOBODY });
    expect(result.signal).toBeNull();
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^zdt: ERR_ZDT_CONTROL_PERMISSION: Permission denied on control socket .*: uid 65534 \(nobody\) cannot create a socket in .*read-only \(EACCES\)/);
    expect(result.stdout).not.toMatch(/forked/);
    expect(readdirSync(readOnly)).toEqual([]);
  });

  it('permission denied on the socket is reported as ERR_ZDT_CONTROL_PERMISSION (exit 2), not as nobody listening', async () => {
    assertRoot();
    const directory = nobodysDirectory(publicDirectory(), 'own', 0o700);
    const socketPath = path.join(directory, 'c.sock');
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    cleanups.push(() => server.close());
    // The socket belongs to the client's uid (so it is trusted) but has mode 000.
    chownSync(socketPath, NOBODY, NOBODY);
    chmodSync(socketPath, 0o000);
    for (const command of ['status', 'reload', 'stop']) {
      const result = await zdt([command, '--control', socketPath], { uid: NOBODY });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/^zdt: ERR_ZDT_CONTROL_PERMISSION: Permission denied on control socket .*c\.sock: uid 65534 \(nobody\) got EACCES/);
      expect(result.stderr).not.toMatch(/No supervisor is listening/);
    }
  });

  it.each(['--drain-timeout', '--ready-timeout'])('zdt start %s 36000m (beyond the timer range) exits 2 naming the flag and the value', async (flag) => {
    const running = zdtStart([fixture('app.cjs'), '--workers', '1', flag, '36000m', '--control', path.join(scratchDirectory(), 'c.sock')]);
    expect(await running.exited).toEqual({ code: 2, signal: null });
    const output = running.output.join('\n');
    expect(output).toMatch(/^zdt: ERR_ZDT_USAGE: /);
    expect(output).toContain(`${flag}: `);
    expect(output).toContain('"36000m"');
    expect(running.workerPids()).toEqual([]);
  });
});

function openIdle(socketPath: string, count: number) {
  const sockets: net.Socket[] = [];
  let closed = 0;
  for (let index = 0; index < count; index++) {
    const socket = net.connect(socketPath);
    socket.on('error', () => {});
    socket.on('close', () => closed++);
    sockets.push(socket);
  }
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
  });
  return { closed: () => closed };
}

describe('control connections', () => {
  it('with 200 idle connections open, zdt status is still answered, and the server closes every idle one', async () => {
    const socketPath = path.join(scratchDirectory(), 'control.sock');
    const running = zdtStart([fixture('app.cjs'), '--workers', '1', '--control', socketPath]);
    await running.waitForLine(/supervisor pid \d+ running/);
    const idle = openIdle(socketPath, 200);

    const status = await zdt(['status', '--json', '--control', socketPath]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'running' });
    // None of them ever sends a request: the server closes them all (beyond the bound at once, the rest when idle too long).
    await waitFor(() => idle.closed() === 200, 'the server to close the 200 idle connections', { timeoutMs: 60_000 });

    expect((await zdt(['stop', '--control', socketPath])).code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it('keeps at most maxConnections open, makes room by dropping the oldest idle one, and never times out a request under way', async () => {
    const socketPath = path.join(scratchDirectory(), 'control.sock');
    const supervisor = new Supervisor({ entry: fixture('app.cjs'), workers: 1, logger: memoryLogger() });
    let releaseStop!: () => void;
    const stopReleased = new Promise<void>((resolve) => (releaseStop = resolve));
    const server = new ControlServer(supervisor, socketPath, () => stopReleased, { idleTimeoutMs: 60_000, maxConnections: 64 });
    await server.listen();
    cleanups.push(() => void server.close());

    const idle = openIdle(socketPath, 200);
    await waitFor(() => idle.closed() >= 200 - 64, 'the connections beyond the bound to be closed');
    // Exactly the excess is gone: the other 64 stay open until their idle timeout (a minute here).
    expect(idle.closed()).toBe(200 - 64);

    // A real request gets in while they are open (dropping the oldest idle connection to make room).
    const status = await sendControlCommand(socketPath, 'status');
    expect(status).toMatchObject({ type: 'result', ok: true, data: { state: 'idle' } });
    await waitFor(() => idle.closed() === 200 - 64 + 1, 'the oldest idle connection to make room');
    expect(idle.closed()).toBe(200 - 64 + 1);
    await server.close();

    // A short idle timeout: a request under way (a stop that waits) is not cut, an idle connection is.
    const quick = new ControlServer(supervisor, path.join(path.dirname(socketPath), 'quick.sock'), () => stopReleased, { idleTimeoutMs: 300 });
    await quick.listen();
    cleanups.push(() => void quick.close());
    const progress: string[] = [];
    const stopping = sendControlCommand(quick.path, 'stop', (line) => progress.push(line.event));
    await waitFor(() => progress.includes('stopping'), 'the stop request to be under way');
    const late = openIdle(quick.path, 1);
    await waitFor(() => late.closed() === 1, 'the idle connection to time out');
    releaseStop();
    expect(await stopping).toEqual({ type: 'result', ok: true });
    await quick.close();
  });
});
