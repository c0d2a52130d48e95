/**
 * One request at a time, on a real socket: for checking an answer, a header or what happens to a connection. Load
 * goes through the load clients.
 */
import http from 'node:http';
import https from 'node:https';

export interface Reply {
  status: number;
  body: string;
  connection: string | undefined;
  /** The Keep-Alive response header (`timeout=5`), which Node's servers send with their keepAliveTimeout in seconds. */
  keepAlive: string | undefined;
  reusedSocket: boolean;
}

export interface RequestOptions {
  /** @default '/ping' */
  path?: string;
  /** @default 'GET' */
  method?: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** false (the default) opens a connection for this request alone; pass a keep-alive agent to keep it. */
  agent?: http.Agent | false;
  /** Speak TLS and accept any certificate (the fixtures' are self-signed). */
  secure?: boolean;
  /** @default 15_000 */
  timeoutMs?: number;
}

/** One request; resolves its reply or rejects with the client's error. */
export function request(port: number, { path = '/ping', method = 'GET', host = '127.0.0.1', agent = false, secure = false, timeoutMs = 15_000 }: RequestOptions = {}): Promise<Reply> {
  const client = secure ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = client.request({ host, port, path, method, agent, rejectUnauthorized: false, timeout: timeoutMs }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body: text,
          connection: response.headers.connection,
          keepAlive: response.headers['keep-alive'] as string | undefined,
          reusedSocket: outgoing.reusedSocket,
        }),
      );
      response.on('error', reject);
    });
    outgoing.on('timeout', () => outgoing.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** GET `path` (the contract's /ping by default). */
export function get(port: number, path = '/ping', options: Omit<RequestOptions, 'path'> = {}): Promise<Reply> {
  return request(port, { ...options, path });
}

/** The pid in a contract answer ({ pid } from /ping, { data, pid } from /echo). */
export function pidOf(reply: Reply): number {
  return (JSON.parse(reply.body) as { pid: number }).pid;
}
