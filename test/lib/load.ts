/**
 * A bounded keep-alive load for end-to-end tests: each client owns one
 * keep-alive socket (its own Agent, maxSockets 1) and sends GET /ping and
 * POST /echo in turn; every echo is compared with what was sent. Nothing is
 * retried, so every reset, hang-up or refused connection is counted.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';

export interface LoadOptions {
  port: number;
  host?: string;
  clients?: number;
  /** Hard cap on requests per client, so a test can never loop forever. */
  maxRequestsPerClient?: number;
  /** Hard cap on the time the load runs. */
  maxDurationMs?: number;
  /** Count refused connections apart (standalone drains close the listener on purpose). */
  refusedIsExpected?: () => boolean;
}

export interface LoadSummary {
  sent: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  refusedExpected: number;
  pids: Set<number>;
  connectionClose: number;
}

export interface Load {
  summary: LoadSummary;
  /** Resolves once every client has completed at least `count` more requests. */
  waitForRequests(count: number): Promise<void>;
  stop(): Promise<LoadSummary>;
}

export function startLoad(options: LoadOptions): Load {
  const host = options.host ?? '127.0.0.1';
  const clients = options.clients ?? 8;
  const maxPerClient = options.maxRequestsPerClient ?? 200_000;
  const deadline = Date.now() + (options.maxDurationMs ?? 90_000);
  const summary: LoadSummary = {
    sent: 0,
    ok: 0,
    failed: 0,
    failures: {},
    refusedExpected: 0,
    pids: new Set(),
    connectionClose: 0,
  };
  let stopping = false;
  const waiters: Array<{ target: number; resolve: () => void }> = [];

  const settle = () => {
    for (let index = waiters.length - 1; index >= 0; index--) {
      const waiter = waiters[index]!;
      if (summary.ok + summary.failed >= waiter.target || stopping) {
        waiters.splice(index, 1);
        waiter.resolve();
      }
    }
  };

  const fail = (reason: string) => {
    summary.failed++;
    summary.failures[reason] = (summary.failures[reason] ?? 0) + 1;
  };

  const runClient = async (clientIndex: number) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let count = 0; count < maxPerClient && !stopping && Date.now() < deadline; count++) {
        const post = (count + clientIndex) % 2 === 1;
        const data = post ? randomBytes(16 + (count % 64)).toString('hex') : '';
        summary.sent++;
        try {
          const response = await request(agent, host, options.port, post, data);
          if (response.status !== 200) fail(`status ${response.status}`);
          else if (post && response.data !== data) fail('echo mismatch');
          else {
            summary.ok++;
            if (response.pid) summary.pids.add(response.pid);
            if (response.connectionClose) summary.connectionClose++;
          }
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
          if (code === 'ECONNREFUSED' && options.refusedIsExpected?.()) {
            summary.sent--;
            summary.refusedExpected++;
            // The listener is gone on purpose; a real client would go elsewhere.
            await new Promise((resolve) => setTimeout(resolve, 20));
          } else {
            fail(code);
          }
        }
        settle();
      }
    } finally {
      agent.destroy();
    }
  };

  const running = Promise.all(Array.from({ length: clients }, (_, index) => runClient(index)));

  return {
    summary,
    waitForRequests(count) {
      return new Promise((resolve) => {
        waiters.push({ target: summary.ok + summary.failed + count, resolve });
        settle();
      });
    },
    async stop() {
      stopping = true;
      settle();
      await running;
      return summary;
    },
  };
}

interface Response {
  status: number;
  data: string;
  pid: number | undefined;
  connectionClose: boolean;
}

/** GET /ping answers `{ pid }`; POST /echo takes `{ data }` as JSON and answers `{ data, pid }`. */
function request(agent: http.Agent, host: string, port: number, post: boolean, data: string): Promise<Response> {
  const body = post ? JSON.stringify({ data }) : '';
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        agent,
        method: post ? 'POST' : 'GET',
        path: post ? '/echo' : '/ping',
        headers: post ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let echoed = '';
          let pid: number | undefined;
          try {
            const parsed = JSON.parse(text) as { data?: string; pid?: number };
            echoed = parsed.data ?? '';
            pid = parsed.pid;
          } catch {
            echoed = `unparseable: ${text.slice(0, 40)}`;
          }
          resolve({
            status: res.statusCode ?? 0,
            data: echoed,
            pid,
            connectionClose: res.headers.connection === 'close',
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(post ? body : undefined);
  });
}
