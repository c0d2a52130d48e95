/**
 * Socket.IO under the supervisor with sticky routing (`sticky: 'sid' | 'ip'`), end to end: the real socket.io,
 * socket.io-client and @socket.io/cluster-adapter packages, real workers. 20 clients with default options emit an
 * acknowledged event every 50 ms. Without reloads: no connect error and every ack answered. Through 3 rolling
 * restarts and a worker killed with SIGKILL: every client connected at the end, and no event a healthy worker
 * received left unanswered; the events on the killed worker, and those emitted into a transport the server was
 * closing (Socket.IO delivers at most once: no worker ever received them), are counted apart. A broadcast from one
 * worker reaches all 20 clients before and after a rolling restart. `ip` runs plain long-polling clients, each from
 * its own loopback address so they spread over the workers; for them the events a draining worker received but did
 * not answer are printed, not asserted: a few are lost (a known gap, docs/guides/websockets.md). The NestJS example (examples/nest-socket-io) runs as its
 * README says, `zdt start main.mjs --workers 2 --sticky sid`, through a `zdt reload`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Supervisor } from '@zero-downtime/core';
import { fileURLToPath } from 'node:url';
import { cleanUp, freePort, isAlive, onCleanup, waitFor, zdt, zdtStart } from '@zero-downtime/testkit';
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { appPath } from './lib/apps.js';
import { cells, tier } from './lib/tier.js';

const CLIENTS = 20;
const EMIT_EVERY_MS = 50;
const ACK_TIMEOUT_MS = 10_000;
const QUIET_TRAFFIC_MS = tier(4_000, 30_000);
const ROLLING_RESTARTS = 3;

interface Emitted {
  value: number;
  /** The worker the client's session was on when it emitted (undefined: disconnected, the emit was buffered). */
  pidAtEmit: number | undefined;
  outcome?: 'acked' | 'timed out' | 'disconnected';
}

class Clients {
  readonly sockets: Socket[] = [];
  readonly emitted: Emitted[] = [];
  connectErrors = 0;
  readonly news = new Map<number, number>();
  private readonly pids = new Map<Socket, number | undefined>();
  private timer: NodeJS.Timeout | undefined;
  private next = 0;

  constructor(url: string, pollingOnly: boolean) {
    for (let index = 0; index < CLIENTS; index++) {
      // ip: each client from its own loopback address, so the address hash spreads them.
      const options = pollingOnly ? { transports: ['polling'], agent: new http.Agent({ localAddress: `127.0.0.${index + 2}` }) } : {};
      const socket = io(url, options as Parameters<typeof io>[1]);
      socket.on('connect_error', () => (this.connectErrors += 1));
      socket.on('welcome', (pid: number) => this.pids.set(socket, pid));
      socket.on('disconnect', () => this.pids.set(socket, undefined));
      socket.on('news', (id: number) => this.news.set(id, (this.news.get(id) ?? 0) + 1));
      this.sockets.push(socket);
    }
    onCleanup(() => this.close());
  }

  get connected(): number {
    return this.sockets.filter((socket) => socket.connected).length;
  }

  startEmitting(): void {
    this.timer = setInterval(() => {
      for (const socket of this.sockets) {
        const record: Emitted = { value: this.next++, pidAtEmit: socket.connected ? this.pids.get(socket) : undefined };
        this.emitted.push(record);
        socket.timeout(ACK_TIMEOUT_MS).emit('echo', record.value, (error: Error | null, answer?: { pid: number }) => {
          if (!error) {
            record.outcome = 'acked';
            if (answer) this.pids.set(socket, answer.pid);
          } else record.outcome = /timed out/.test(error.message) ? 'timed out' : 'disconnected';
        });
      }
    }, EMIT_EVERY_MS);
  }

  /** Stops emitting and waits until every emit has its outcome (an ack, a timeout, or the disconnect error). */
  async stopEmitting(): Promise<void> {
    clearInterval(this.timer);
    await waitFor(() => this.emitted.every((record) => record.outcome !== undefined), 'every emit answered or failed', { timeoutMs: ACK_TIMEOUT_MS + 5_000 });
  }

  /** One client asks its worker to broadcast; resolves how many clients heard it. */
  async broadcast(id: number): Promise<number> {
    await this.sockets[id % CLIENTS]!.timeout(ACK_TIMEOUT_MS).emitWithAck('broadcast', id);
    await waitFor(() => (this.news.get(id) ?? 0) >= CLIENTS, `broadcast ${id} heard by ${CLIENTS} clients`, { timeoutMs: 5_000 }).catch(() => {});
    return this.news.get(id) ?? 0;
  }

  close(): void {
    clearInterval(this.timer);
    for (const socket of this.sockets) socket.close();
  }
}

/** value -> pid of the worker that received it, from the app's ledger. */
function readLedger(file: string): Map<number, number> {
  const received = new Map<number, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [value, pid] = line.split(' ');
    if (value && pid) received.set(Number(value), Number(pid));
  }
  return received;
}

const figures: string[] = [];
afterEach(() => cleanUp());
afterAll(() => console.log(`\nSocket.IO under sticky routing\n${figures.join('\n')}`));

interface Cell {
  sticky: 'sid' | 'ip';
  workers: number;
}

const allCells: Cell[] = [2, 4].flatMap((workers) => (['sid', 'ip'] as const).map((sticky) => ({ sticky, workers })));

describe.each(cells(allCells, (cell) => cell.sticky === 'sid' && cell.workers === 2))('sticky $sticky, $workers workers', ({ sticky, workers }) => {
  it('no reload: no connect error, every ack; reloads and a SIGKILL: every client back, no received event unanswered; broadcasts reach all', async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'zdt-sio-'));
    onCleanup(() => rmSync(directory, { recursive: true, force: true }));
    const ledger = path.join(directory, 'ledger');
    writeFileSync(ledger, '');
    const supervisor = new Supervisor({ entry: appPath('socket-io.cjs'), workers, sticky, env: { SIO_LEDGER: ledger }, readyTimeoutMs: 20_000, drainTimeoutMs: 10_000, logger: false });
    let port = 0;
    supervisor.on('listening', (event: { address: { port: number } }) => (port = event.address.port));
    onCleanup(async () => {
      await supervisor.stop({ force: true });
    });
    await supervisor.start();
    const clients = new Clients(`http://127.0.0.1:${port}`, sticky === 'ip');
    await waitFor(() => clients.connected === CLIENTS, `${CLIENTS} clients connected`);

    // Without reloads.
    clients.startEmitting();
    await new Promise((resolve) => setTimeout(resolve, QUIET_TRAFFIC_MS));
    const heardBefore = await clients.broadcast(1_000_001);
    await clients.stopEmitting();
    const quiet = [...clients.emitted];
    const quietFailed = quiet.filter((record) => record.outcome !== 'acked').length;
    const quietConnectErrors = clients.connectErrors;
    expect({ connectErrors: quietConnectErrors, failedAcks: quietFailed, heard: heardBefore }).toEqual({ connectErrors: 0, failedAcks: 0, heard: CLIENTS });

    // Rolling restarts, then a worker killed.
    clients.startEmitting();
    for (let rollout = 0; rollout < ROLLING_RESTARTS; rollout++) await supervisor.reload();
    const heardAfter = await clients.broadcast(1_000_002);
    const victim = supervisor.status().workers.find((worker) => worker.state === 'ready')!.pid;
    process.kill(victim, 'SIGKILL');
    await waitFor(() => !isAlive(victim) && supervisor.status().workers.filter((worker) => worker.state === 'ready').length === workers, 'the killed worker replaced', { timeoutMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await clients.stopEmitting();
    await waitFor(() => clients.connected === CLIENTS, `${CLIENTS} clients connected at the end`, { timeoutMs: 15_000 }).catch(() => {});

    const received = readLedger(ledger);
    const reloaded = clients.emitted.slice(quiet.length);
    const failed = reloaded.filter((record) => record.outcome !== 'acked');
    const onKilled = failed.filter((record) => received.get(record.value) === victim || (!received.has(record.value) && record.pidAtEmit === victim));
    const unanswered = failed.filter((record) => received.has(record.value) && received.get(record.value) !== victim);
    const neverReceived = failed.filter((record) => !received.has(record.value) && record.pidAtEmit !== victim);
    figures.push(
      `sticky ${sticky}, ${workers} workers | no reload: ${quiet.length} emits, ${quietFailed} failed, ${quietConnectErrors} connect errors` +
        ` | ${ROLLING_RESTARTS} reloads + SIGKILL: ${reloaded.length} emits, ${reloaded.length - failed.length} acked, ${unanswered.length} received and unanswered by a healthy worker,` +
        ` ${onKilled.length} on the killed worker, ${neverReceived.length} emitted into a closing transport (never received), ${failed.filter((record) => record.outcome === 'timed out').length} timed out,` +
        ` ${clients.connectErrors - quietConnectErrors} connect errors | broadcast heard by ${heardBefore} then ${heardAfter}`,
    );
    // A known gap, said in the guide: under `ip`, plain long-polling clients lose a few acks of events a draining
    // worker received (the count is printed above); the other claims hold for both modes.
    if (sticky === 'sid') expect(unanswered).toHaveLength(0);
    expect({ connected: clients.connected, heardAfter }).toEqual({ connected: CLIENTS, heardAfter: CLIENTS });
    clients.close();
  });
});

describe('examples/nest-socket-io under zdt start --sticky sid', () => {
  it('answers acks, broadcasts to every client of both workers, and its clients come back after zdt reload', async () => {
    const cwd = fileURLToPath(new URL('../examples/nest-socket-io', import.meta.url));
    const directory = mkdtempSync(path.join(os.tmpdir(), 'zdt-sio-nest-'));
    onCleanup(() => rmSync(directory, { recursive: true, force: true }));
    const control = path.join(directory, 'zdt.sock');
    const port = await freePort();
    const supervisor = zdtStart(['main.mjs', '--workers', '2', '--sticky', 'sid', '--control', control], { cwd, env: { PORT: String(port) } });
    await supervisor.waitForLine(/supervisor pid \d+ running/, 60_000);
    const sockets = Array.from({ length: 6 }, () => io(`http://127.0.0.1:${port}`));
    onCleanup(() => sockets.forEach((socket) => socket.close()));
    const heard = new Map<number, number>();
    for (const socket of sockets) socket.on('news', (id: number) => heard.set(id, (heard.get(id) ?? 0) + 1));
    const connected = () => sockets.filter((socket) => socket.connected).length;
    await waitFor(() => connected() === sockets.length, 'every client connected');
    const pids = new Set((await Promise.all(sockets.map((socket) => socket.timeout(5_000).emitWithAck('echo', 1)))).map((answer: { pid: number }) => answer.pid));
    await sockets[0]!.timeout(5_000).emitWithAck('broadcast', 1);
    await waitFor(() => heard.get(1) === sockets.length, 'broadcast 1 heard by every client', { timeoutMs: 5_000 }).catch(() => {});
    const heardBefore = heard.get(1) ?? 0;

    const reload = await zdt(['reload', '--control', control], { cwd });
    await waitFor(() => connected() === sockets.length, 'every client back after the reload', { timeoutMs: 15_000 }).catch(() => {});
    const echoedAfter = await Promise.all(sockets.map((socket) => socket.timeout(5_000).emitWithAck('echo', 2).then(() => true, () => false)));
    await sockets[1]!.timeout(5_000).emitWithAck('broadcast', 2);
    await waitFor(() => heard.get(2) === sockets.length, 'broadcast 2 heard by every client', { timeoutMs: 5_000 }).catch(() => {});
    figures.push(`examples/nest-socket-io: ${sockets.length} clients on ${pids.size} workers; broadcast heard by ${heardBefore}, then after zdt reload (exit ${reload.code}) by ${heard.get(2) ?? 0}`);
    expect({ reload: reload.code, workers: pids.size, heardBefore, echoedAfter: echoedAfter.filter(Boolean).length, heardAfter: heard.get(2) ?? 0 }).toEqual({
      reload: 0,
      workers: 2,
      heardBefore: sockets.length,
      echoedAfter: sockets.length,
      heardAfter: sockets.length,
    });
    sockets.forEach((socket) => socket.close());
    const stop = await zdt(['stop', '--control', control], { cwd });
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
  });
});
