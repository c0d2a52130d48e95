/**
 * A real HAProxy in front of the apps, the way a Kubernetes Service with a readiness probe (or any load balancer with
 * health checks) sits in front of pods: it health-checks every server on the adapter's readiness path and sends
 * requests only to the servers whose check passes. It runs in the foreground (`haproxy -db`) from a configuration in
 * a temporary directory, tracked by pid like every process a test starts, and is driven through its runtime API (the
 * admin stats socket): servers are added as instances come up and removed once they are gone, as endpoints are.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, stopProcess, waitFor, type StartedProcess } from '@zero-downtime/testkit';

const INSTALL_SCRIPT = fileURLToPath(new URL('../../scripts/install-haproxy.sh', import.meta.url));
const BACKEND = 'app';

/** Health checking as the tests configure it: every 500 ms, one failed check marks a server down, one passed check up. */
export const CHECK = { path: '/ready', intervalMs: 500, fall: 1, rise: 1 };

/**
 * The haproxy binary, installed by scripts/install-haproxy.sh when it is missing (apt-get; as root or with sudo).
 * Throws with the script's output when it cannot: these tests never run without a real HAProxy.
 */
export function ensureHaproxy(): string {
  try {
    execFileSync('bash', [INSTALL_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, encoding: 'utf8' });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`HAProxy is required and scripts/install-haproxy.sh could not install it:\n${stdout}${stderr}`);
  }
  // Debian puts it in /usr/sbin, which is not on every user's PATH.
  for (const candidate of ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // Try the next.
    }
  }
  return 'haproxy';
}

export interface ServerState {
  name: string;
  port: number;
  /** Up (its last checks passed: it gets requests), down, or in maintenance (set by the runtime API). */
  state: 'up' | 'down' | 'maint';
}

export interface Balancer {
  /** The frontend's port on 127.0.0.1: the address clients use. */
  port: number;
  process: StartedProcess;
  /** One runtime API command; resolves with HAProxy's answer. */
  command(line: string): Promise<string>;
  servers(): Promise<ServerState[]>;
  /** Adds a server (an endpoint) for 127.0.0.1:port, health-checked like the others; resolves once HAProxy marks it up. */
  addServer(name: string, port: number): Promise<void>;
  /** Resolves once HAProxy marks the server down (its readiness check failed or nothing listens). */
  waitForDown(name: string): Promise<void>;
  /** Puts a server in maintenance and deletes it (the endpoint is gone); the process behind it must be gone already. */
  removeServer(name: string): Promise<void>;
  /** The backend's health counters per server: checks that failed and up-to-down transitions. */
  checkCounters(): Promise<Record<string, { failedChecks: number; downTransitions: number }>>;
  stop(): Promise<void>;
}

/**
 * Starts HAProxy with one frontend and one empty backend; servers come and go through `addServer` and `removeServer`.
 * No retries and no redispatch, like a Service: a connection refused by a server is a failed request the client sees
 * (HAProxy answers 503), not hidden.
 */
export async function startBalancer(haproxy: string): Promise<Balancer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'zdt-haproxy-'));
  const socket = path.join(dir, 'admin.sock');
  const port = await freePort();
  const config = [
    'global',
    `  stats socket ${socket} mode 600 level admin`,
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-keep-alive 10s',
    // A Service does not retry a refused connection on another pod: neither does this balancer.
    '  retries 0',
    'frontend web',
    `  bind 127.0.0.1:${port}`,
    `  default_backend ${BACKEND}`,
    `backend ${BACKEND}`,
    '  balance roundrobin',
    `  option httpchk GET ${CHECK.path}`,
    '  http-check expect status 200',
    '',
  ].join('\n');
  const configFile = path.join(dir, 'haproxy.cfg');
  writeFileSync(configFile, config);

  const started = startProcess(haproxy, ['-db', '-f', configFile], { what: 'haproxy' });
  const exitedEarly = started.exited.then((exit) => {
    throw new Error(`haproxy exited (${JSON.stringify(exit)}):\n${started.output.join('\n')}\n${config}`);
  });
  exitedEarly.catch(() => {});

  const command = (line: string) =>
    new Promise<string>((resolve, reject) => {
      let answer = '';
      const connection = net.createConnection(socket);
      connection.setEncoding('utf8');
      connection.on('data', (chunk) => (answer += chunk));
      connection.on('end', () => resolve(answer));
      connection.on('error', reject);
      connection.end(`${line}\n`);
    });

  const listServers = async (): Promise<ServerState[]> => {
    // "show servers state": a version line, then a header naming the columns, then one line per server.
    const lines = (await command(`show servers state ${BACKEND}`)).split('\n').filter((line) => line.trim() !== '');
    const header = lines.find((line) => line.startsWith('#'))!.slice(1).trim().split(/\s+/);
    const column = (fields: string[], name: string) => fields[header.indexOf(name)]!;
    return lines
      .filter((line) => !line.startsWith('#') && /^\d+ /.test(line))
      .map((line) => line.trim().split(/\s+/))
      .map((fields) => {
        // srv_admin_state bit 0x01 (forced maintenance) or 0x20 (maintenance by the runtime API); op_state 2 is running.
        const admin = Number(column(fields, 'srv_admin_state'));
        const state = admin & 0x21 ? 'maint' : Number(column(fields, 'srv_op_state')) === 2 ? 'up' : 'down';
        return { name: column(fields, 'srv_name'), port: Number(column(fields, 'srv_port')), state } as ServerState;
      });
  };
  const stateOf = async (name: string) => (await listServers()).find((server) => server.name === name)?.state;

  const balancer: Balancer = {
    port,
    process: started,
    command,
    servers: listServers,
    async addServer(name, serverPort) {
      const added = await command(`add server ${BACKEND}/${name} 127.0.0.1:${serverPort} check inter ${CHECK.intervalMs} fall ${CHECK.fall} rise ${CHECK.rise}`);
      if (!/New server registered/i.test(added)) throw new Error(`haproxy refused "add server ${name}": ${added}`);
      // A server added at run time starts in maintenance with its check disabled.
      await command(`enable health ${BACKEND}/${name}`);
      await command(`enable server ${BACKEND}/${name}`);
      await waitFor(async () => (await stateOf(name)) === 'up', `haproxy to mark ${name} (port ${serverPort}) up`, { timeoutMs: 20_000, intervalMs: 50 });
    },
    async waitForDown(name) {
      await waitFor(async () => (await stateOf(name)) === 'down', `haproxy to mark ${name} down`, { timeoutMs: 20_000, intervalMs: 20 });
    },
    async removeServer(name) {
      await command(`set server ${BACKEND}/${name} state maint`);
      // Deleting needs the server to hold no connection; HAProxy lets go of its idle ones shortly after maintenance.
      await waitFor(async () => /Server deleted/i.test(await command(`del server ${BACKEND}/${name}`)), `haproxy to delete ${name}`, { timeoutMs: 20_000, intervalMs: 100 });
    },
    async checkCounters() {
      // "show stat" is CSV: a header line starting with "# pxname,svname,...", then a line per proxy and server.
      const lines = (await command('show stat')).split('\n').filter((line) => line.trim() !== '');
      const header = lines[0]!.replace(/^# /, '').split(',');
      const counters: Record<string, { failedChecks: number; downTransitions: number }> = {};
      for (const line of lines.slice(1)) {
        const fields = line.split(',');
        const field = (name: string) => fields[header.indexOf(name)] ?? '';
        if (field('pxname') !== BACKEND || field('svname') === 'BACKEND') continue;
        counters[field('svname')] = { failedChecks: Number(field('chkfail')), downTransitions: Number(field('chkdown')) };
      }
      return counters;
    },
    async stop() {
      await stopProcess(started.pid, { signal: 'SIGTERM', graceMs: 5_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };

  await Promise.race([
    exitedEarly,
    waitFor(
      async () => {
        try {
          return /^Name: HAProxy/m.test(await command('show info'));
        } catch {
          return false;
        }
      },
      'haproxy runtime API',
      { timeoutMs: 20_000, intervalMs: 50 },
    ),
  ]);
  return balancer;
}
