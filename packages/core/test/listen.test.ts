/**
 * Listening sockets the supervisor owns: `zdt start --listen` (TCP and Unix), the `listen` key, systemd socket
 * activation (LISTEN_FDS/LISTEN_PID), an unmodified app whose listen(PORT) is mapped onto the supervisor's socket,
 * the socket outliving every worker, the PID file, and the bad input each of them can get (exit 2, coded).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, get, isAlive, pidOf, startLoad, startProcess, track, waitFor, waitForExit, zdt, zdtStart } from '@zero-downtime/testkit';
import { fixture, testContext } from './helpers.js';

const context = testContext();
/** The CLI launcher, for the runs that need their own spawn (a shell in front, or no output helper). */
const ZDT = fileURLToPath(new URL('../bin/zdt.cjs', import.meta.url));

interface Status {
  pid: number;
  node: string;
  pidFile: string | null;
  workers: Array<{ pid: number; state: string }>;
  listeners: Array<{ address: string; fd: number; origin: string }>;
}

async function status(control: string): Promise<Status> {
  const result = await zdt(['status', '--json', '--control', control]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Status;
}

function getUnix(socketPath: string): Promise<{ status: number; pid: number }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: '/ping', agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, pid: (JSON.parse(body) as { pid: number }).pid }));
      })
      .on('error', reject);
  });
}

describe('zdt start --listen', () => {
  it("maps an unmodified app's listen(PORT) onto the supervisor's socket; a reload under connection-per-request load fails nothing; the socket outlives every worker", async () => {
    const dir = context.scratchDirectory('zdt-listen-');
    const control = path.join(dir, 'control.sock');
    const pidFile = path.join(dir, 'zdt.pid');
    const port = await freePort();
    const running = zdtStart([fixture('listen-app.cjs'), '--workers', '2', '--listen', `127.0.0.1:${port}`, '--control', control, '--pid-file', pidFile], {
      env: { LISTEN_ON: String(port) },
    });
    await running.waitForLine(/supervisor pid \d+ running/);
    expect(running.output.join('\n')).toMatch(new RegExp(`listening socket 127\\.0\\.0\\.1:${port} \\(fd \\d+, bound\\)`));
    const before = await status(control);
    expect(before.listeners).toEqual([{ address: `127.0.0.1:${port}`, fd: expect.any(Number), origin: 'bound' }]);
    expect(readFileSync(pidFile, 'utf8')).toBe(`${running.pid}\n`);
    expect(before.pidFile).toBe(pidFile);
    // No warning: the app's only listen() went to the supervisor's socket, not through node:cluster.
    expect(running.output.join('\n')).not.toMatch(/through node:cluster/);
    const answered = new Set<number>();
    for (let request = 0; request < 20; request++) answered.add(pidOf(await get(port)));
    expect([...answered].every((pid) => before.workers.some((worker) => worker.pid === pid))).toBe(true);

    const load = startLoad({ port, clients: 8, keepAlive: false, durationMs: 60_000 });
    await load.waitForRequests(200);
    const reload = await zdt(['reload', '--control', control]);
    expect(reload.code, reload.stderr).toBe(0);
    await load.waitForRequests(200);
    const summary = await load.stop();
    console.log(`--listen, reload under connection-per-request load: sent ${summary.sent}, failed ${summary.failed}`);
    expect(summary.failures).toEqual({});
    expect(summary.failed).toBe(0);
    expect(before.workers.map((worker) => worker.pid).filter(isAlive)).toEqual([]);

    // Both workers killed at once: the supervisor still holds the socket, so a client waits for the restart
    // instead of being refused.
    const victims = (await status(control)).workers.map((worker) => worker.pid);
    for (const pid of victims) process.kill(pid, 'SIGKILL');
    const reply = await get(port, '/ping', { timeoutMs: 20_000 });
    expect(reply.status).toBe(200);
    expect(victims).not.toContain(pidOf(reply));

    const stop = await zdt(['stop', '--control', control]);
    expect(stop.code, stop.stderr).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(pidFile)).toBe(false);
    expect(existsSync(control)).toBe(false);
    await expect(get(port, '/ping', { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('listens on a Unix socket given as unix:PATH in the configuration file, with --no-auto-drain too; removes the file at the stop', async () => {
    const dir = context.scratchDirectory('zdt-listen-');
    const control = path.join(dir, 'control.sock');
    const socketPath = path.join(dir, 'app.sock');
    writeFileSync(
      path.join(dir, 'zdt.config.json'),
      JSON.stringify({ entry: fixture('listen-app.cjs'), workers: 2, listen: 'unix:app.sock', control: 'control.sock', autoDrain: false, env: { LISTEN_ON: socketPath } }),
    );
    const running = zdtStart([], { cwd: dir });
    await running.waitForLine(/supervisor pid \d+ running/);
    const { workers, listeners } = await status(control);
    expect(listeners).toEqual([{ address: `unix:${socketPath}`, fd: expect.any(Number), origin: 'bound', path: socketPath }]);
    const answered = new Set<number>();
    for (let request = 0; request < 20; request++) answered.add((await getUnix(socketPath)).pid);
    expect([...answered].every((pid) => workers.some((worker) => worker.pid === pid))).toBe(true);
    // Without the worker side, a worker told to stop still closes the server on the supervisor's socket and exits.
    const reload = await zdt(['reload', '--control', control]);
    expect(reload.code, reload.stderr).toBe(0);
    expect(workers.map((worker) => worker.pid).filter(isAlive)).toEqual([]);
    expect((await getUnix(socketPath)).status).toBe(200);

    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socketPath)).toBe(false);
  });

  it('systemd socket activation: takes the LISTEN_FDS socket when LISTEN_PID is its pid, keeps LISTEN_* from the workers, and hands the socket on in zdt upgrade', async () => {
    const dir = context.scratchDirectory('zdt-activation-');
    const control = path.join(dir, 'control.sock');
    const port = await freePort();
    // A bound socket, as systemd passes one (this process never listens or accepts on it).
    const handle = (net as unknown as { _createServerHandle(host: string, port: number, type: number): { fd: number; close(): void } })._createServerHandle('127.0.0.1', port, 4);
    // LISTEN_PID must be zdt's own pid: the shell sets it to its pid, then becomes node with exec.
    const child = spawn(
      'sh',
      ['-c', `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http exec "${process.execPath}" "${ZDT}" start "${fixture('listen-app.cjs')}" --workers 2 --control "${control}"`],
      { stdio: ['ignore', 'pipe', 'pipe', handle.fd], env: { ...process.env, LISTEN_ON: String(port) } },
    );
    handle.close();
    track(child.pid, 'socket-activated zdt start');
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
    await waitFor(() => /supervisor pid \d+ running/.test(output), 'the supervisor to run', { timeoutMs: 20_000 }).catch((error: Error) => {
      throw new Error(`${error.message}; output:\n${output}`);
    });
    expect(output).toMatch(new RegExp(`listening socket 127\\.0\\.0\\.1:${port} \\(fd 3, from systemd \\(LISTEN_FDS\\)\\)`));
    const { pid, workers, listeners } = await status(control);
    expect(pid).toBe(child.pid);
    expect(listeners).toEqual([{ address: `127.0.0.1:${port}`, fd: 3, origin: 'systemd' }]);
    expect(workers.map((worker) => worker.pid)).toContain(pidOf(await get(port)));
    for (const worker of workers) {
      const environment = readFileSync(`/proc/${worker.pid}/environ`, 'utf8').split('\0');
      expect(environment.filter((entry) => /^LISTEN_(?:PID|FDS|FDNAMES)=/.test(entry))).toEqual([]);
    }
    // Handed on by `zdt upgrade`, the socket stays systemd's, and the new supervisor serves on it.
    const upgrade = await zdt(['upgrade', '--control', control]);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    const after = await status(control);
    track(after.pid, 'the new supervisor');
    expect(after.pid).not.toBe(pid);
    expect(after.listeners).toEqual([{ address: `127.0.0.1:${port}`, fd: 4, origin: 'systemd' }]);
    expect(await waitForExit(child.pid!, 20_000)).toBe(true);
    expect(workers.map((worker) => worker.pid).filter(isAlive)).toEqual([]);
    expect(after.workers.map((worker) => worker.pid)).toContain(pidOf(await get(port)));
    expect((await zdt(['stop', '--control', control])).code).toBe(0);
    expect(await waitForExit(after.pid, 20_000)).toBe(true);
    expect(after.workers.map((worker) => worker.pid).filter(isAlive)).toEqual([]);
  });

  it('refuses bad input with exit 2 and a coded message naming what it received; a port in use fails the start (exit 1)', async () => {
    const dir = context.scratchDirectory('zdt-listen-');
    const control = path.join(dir, 'control.sock');
    const cases: Array<{ args: string[]; env?: Record<string, string>; code: number; message: RegExp }> = [
      { args: ['--listen', 'localhost:3000'], code: 2, message: /ERR_ZDT_USAGE: --listen: expected PORT, HOST:PORT with HOST an IP address .*, received "localhost:3000"/ },
      { args: ['--listen', '127.0.0.1:70000'], code: 2, message: /ERR_ZDT_USAGE: --listen: .*received "127\.0\.0\.1:70000"/ },
      { args: ['--pid-file', '/nonexistent-zdt/zdt.pid'], code: 2, message: /ERR_ZDT_PID_FILE: Cannot write the PID file \/nonexistent-zdt\/zdt\.pid: \/nonexistent-zdt does not exist/ },
    ];
    for (const { args, code, message } of cases) {
      const started = startProcess(process.execPath, [ZDT, 'start', fixture('listen-app.cjs'), '--control', control, ...args]);
      expect(await started.exited, started.output.join('\n')).toEqual({ code, signal: null });
      expect(started.output.join('\n')).toMatch(message);
    }
    writeFileSync(path.join(dir, 'bad.config.json'), JSON.stringify({ entry: fixture('listen-app.cjs'), listen: [3000, 'unix:'] }));
    const badFile = startProcess(process.execPath, [ZDT, 'start', path.join(dir, 'bad.config.json'), '--control', control]);
    expect(await badFile.exited).toEqual({ code: 2, signal: null });
    expect(badFile.output.join('\n')).toMatch(/ERR_ZDT_CONFIG: Invalid configuration .*bad\.config\.json: "listen": expected each address .*; 3000 is not one, received \[3000,"unix:"\]/);

    const activation = spawn('sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=lots exec "${process.execPath}" "${ZDT}" start "${fixture('listen-app.cjs')}" --control "${control}"`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(activation.pid);
    let stderr = '';
    activation.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    expect(await new Promise((resolve) => activation.on('exit', resolve))).toBe(2);
    expect(stderr).toMatch(/ERR_ZDT_LISTEN: Cannot use listening socket LISTEN_FDS: expected a number of descriptors from 1 to 1024, received "lots"/);

    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      const inUse = startProcess(process.execPath, [ZDT, 'start', fixture('listen-app.cjs'), '--listen', `127.0.0.1:${busy}`, '--control', control]);
      expect(await inUse.exited).toEqual({ code: 1, signal: null });
      expect(inUse.output.join('\n')).toMatch(new RegExp(`ERR_ZDT_START_FAILED: .*the listening sockets could not be opened: bind EADDRINUSE 127\\.0\\.0\\.1:${busy}`));
    } finally {
      blocker.close();
    }
    expect(existsSync(control)).toBe(false);
  });

  it('zdt upgrade of a supervisor without --listen is refused (exit 1) and changes nothing; --node that is not executable is bad usage (exit 2)', async () => {
    const dir = context.scratchDirectory('zdt-listen-');
    const control = path.join(dir, 'control.sock');
    const running = zdtStart([fixture('listen-app.cjs'), '--workers', '1', '--control', control]);
    await running.waitForLine(/supervisor pid \d+ running/);
    const before = await status(control);
    const refused = await zdt(['upgrade', '--control', control]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/ERR_ZDT_UPGRADE_FAILED: Upgrade failed: this supervisor owns no listening socket .*; supervisor pid \d+ and its workers keep serving/);
    const badNode = await zdt(['upgrade', '--node', path.join(dir, 'no-such-node'), '--control', control]);
    expect(badNode.code).toBe(2);
    expect(badNode.stderr).toMatch(/ERR_ZDT_USAGE: --node: expected an executable Node\.js binary, received ".*no-such-node"/);
    const badTimeout = await zdt(['upgrade', '--timeout', 'soon', '--control', control]);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(/ERR_ZDT_USAGE: --timeout: expected a duration like 500ms, 30s, 2m, received "soon"/);
    const after = await status(control);
    expect(after.pid).toBe(before.pid);
    expect(after.workers.map((worker) => worker.pid)).toEqual(before.workers.map((worker) => worker.pid));
    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });
});
