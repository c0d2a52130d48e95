// Types for the testkit's plain ES modules, so TypeScript tests and plain Node scripts share one implementation.
import type { ChildProcess, ForkOptions, SpawnOptions } from 'node:child_process';
import type { Agent } from 'node:http';

// ---------------------------------------------------------------- load.mjs
export declare const BUCKET_MS: number;

export interface LoadOptions {
  port: number;
  host?: string;
  /** @default 8 */
  clients?: number;
  /** false: a new connection per request (Connection: close). @default true */
  keepAlive?: boolean;
  /** Hard bound on the time the load runs. @default 120_000 */
  durationMs?: number;
  /** Hard bound on each client's requests. @default 200_000 */
  maxRequestsPerClient?: number;
  /** Size of each POST's data. @default 64 */
  bodyBytes?: number;
  /** @default 30_000 */
  requestTimeoutMs?: number;
  /** When it returns true, a refused connection is counted apart (a standalone process closed its listener on purpose). */
  refusedIsExpected?: () => boolean;
  /** HTTP/1.1 over TLS, trusting this certificate. */
  tls?: { ca: string };
}

export interface LoadSummary {
  startedAtEpochMs: number;
  durationMs: number;
  /** Requests completed: ok + failed (expected refusals are not sent requests). */
  sent: number;
  ok: number;
  failed: number;
  /** Failed requests by reason: ECONNREFUSED, ECONNRESET, socket hang up, timeout, status 503, echo mismatch, unexpected body. */
  failures: Record<string, number>;
  refusedExpected: number;
  /** Every pid that answered. */
  pids: Set<number>;
  /** Answers that carried Connection: close. */
  connectionClose: number;
  /** Per 100 ms: requests that finished then, answered or failed. */
  series: Array<{ ok: number; failed: number }>;
  /** Per request, in completion order: start (ms since the load started), latency (ms), 1 if answered. */
  times: number[];
  latencies: number[];
  oks: number[];
}

export interface Load {
  now(): number;
  progress(): { sent: number; ok: number; failed: number; failures: Record<string, number>; pids: Set<number> };
  waitForRequests(count: number): Promise<void>;
  stop(): Promise<LoadSummary>;
  done: Promise<LoadSummary>;
}

export declare function startLoad(options: LoadOptions): Load;
export declare function latencyIn(summary: LoadSummary, windows: Array<[number, number]>): { count: number; p50: number | null; p99: number | null };
export declare function measureThroughput(options: { port: number; host?: string; connections?: number; durationMs?: number }): Promise<{
  rps: number;
  ok: number;
  failed: number;
  durationMs: number;
}>;

// ---------------------------------------------------------------- load-h2.mjs
export interface H2LoadOptions {
  port: number;
  host?: string;
  /** Clients, each with one session at a time. @default 4 */
  sessions?: number;
  /** Requests each client keeps in flight on its session. @default 2 */
  streams?: number;
  /** Connect over TLS (ALPN h2), trusting this certificate. */
  tls?: { ca: string };
  /** @default 120_000 */
  durationMs?: number;
  /** @default 500_000 */
  maxRequestsPerClient?: number;
  /** @default 30_000 */
  requestTimeoutMs?: number;
  /** When it returns true, a refused connection ends the client instead of counting as failed (a standalone process stopped). */
  refusedIsExpected?: () => boolean;
}

export interface H2LoadSummary {
  durationMs: number;
  sent: number;
  ok: number;
  failed: number;
  /** Failed requests by reason: status 503, reset N, timeout, a connect error's code, echo mismatch... */
  failures: Record<string, number>;
  /** Streams the server never processed (REFUSED_STREAM or above a GOAWAY's last stream id), sent again on a new session (RFC 9113 §8.7). */
  refusedRetried: number;
  refusedExpected: number;
  sessionsOpened: number;
  goaways: number;
  pids: Set<number>;
}

export interface H2Load {
  progress(): { sent: number; ok: number; failed: number; failures: Record<string, number>; pids: Set<number>; refusedRetried: number; goaways: number };
  waitForRequests(count: number): Promise<void>;
  stop(): Promise<H2LoadSummary>;
  done: Promise<H2LoadSummary>;
}

export declare function startH2Load(options: H2LoadOptions): H2Load;
export declare function contractBreach(status: number, text: string, sentData?: string): string | undefined;

// ---------------------------------------------------------------- processes.mjs
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export declare function track(pid: number | undefined, what?: string): void;
export declare function onCleanup(cleanup: () => unknown): void;
export declare function isAlive(pid: number): boolean;
export declare function childrenOf(pid: number): number[];
export declare function rssOf(pid: number): number | null;
export declare function cpuTimeMs(pid: number): number;
export declare function killTree(pid: number, signal?: NodeJS.Signals): void;
export declare function killTracked(): number[];
export declare function cleanUp(): Promise<number[]>;
export declare function installSignalCleanup(): void;
/** What `check` returned once it was truthy. */
export declare function waitFor<T>(check: () => T | Promise<T>, what: string, options?: { timeoutMs?: number; intervalMs?: number }): Promise<Exclude<T, false | 0 | '' | null | undefined>>;
export declare function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T>;
export declare function waitForExit(pid: number, timeoutMs?: number): Promise<boolean>;
export declare function stopProcess(pid: number | undefined, options?: { signal?: NodeJS.Signals; graceMs?: number }): Promise<void>;
export declare function freePort(): Promise<number>;

export interface StartedProcess {
  child: ChildProcess;
  pid: number | undefined;
  /** Every complete line printed so far, stdout and stderr as they came. */
  output: string[];
  exited: Promise<Exit>;
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export interface StartOptions extends SpawnOptions, Omit<ForkOptions, keyof SpawnOptions> {
  /** Fork with an IPC channel (the command is then a module path). */
  ipc?: boolean;
  what?: string;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export declare function startProcess(command: string, args?: string[], options?: StartOptions): StartedProcess;

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
  durationMs: number;
}

export declare function run(command: string, args?: string[], options?: SpawnOptions & { timeoutMs?: number }): Promise<RunResult>;

// ---------------------------------------------------------------- request.mjs
export interface Reply {
  status: number;
  body: string;
  connection: string | undefined;
  reusedSocket: boolean;
}

export interface RequestOptions {
  /** @default '/ping' */
  path?: string;
  agent?: Agent | false;
  secure?: boolean;
  timeoutMs?: number;
}

export declare function request(port: number, options?: RequestOptions): Promise<Reply>;
export declare function get(port: number, path?: string, options?: Omit<RequestOptions, 'path'>): Promise<Reply>;
export declare function pidOf(reply: Reply): number;
export declare function waitForHttp(port: number, options?: { timeoutMs?: number; path?: string }): Promise<true>;

// ---------------------------------------------------------------- zdt.mjs
export interface RunningZdt extends StartedProcess {
  workerPids(): number[];
  port(): number;
}

export interface ZdtOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Use `env` alone instead of adding it to this process's environment. */
  replaceEnv?: boolean;
}

export declare function zdtStart(args: string[], options?: ZdtOptions & { what?: string }): RunningZdt;
export declare function zdt(args: string[], options?: ZdtOptions & { uid?: number; timeoutMs?: number }): Promise<RunResult>;

export interface PipelinedLoadTotals {
  sent: number;
  answered: number;
  /** Answers that did not echo their request's id with status 200, or came without a request. */
  wrongAnswers: number;
  connectionsOpened: number;
  /** Connections the server closed with requests unanswered, without saying `Connection: close` first. */
  closedByServer: number;
  errors: Record<string, number>;
  /** Ids sent but never answered. */
  unanswered: string[];
}

export interface PipelinedLoad {
  answered(): number;
  waitForAnswers(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<PipelinedLoadTotals>;
}

/** Raw-TCP clients that pipeline batches of POSTs whose bodies are unique ids; each answer must echo its id. */
export function startPipelinedLoad(options: {
  port: number;
  connections?: number;
  depth?: number;
  path?: string;
  prefix?: string;
  host?: string;
}): PipelinedLoad;
