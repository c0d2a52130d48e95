// Types for the testkit's plain ES modules, so TypeScript tests and plain Node scripts share one implementation.
import type { ChildProcess, ForkOptions, SpawnOptions } from 'node:child_process';

// ---------------------------------------------------------------- load.mjs, load-h2.mjs, request.mjs (the product's)
export {
  BUCKET_MS,
  CONTRACT_ROUTES,
  contractBreach,
  latencyIn,
  measureThroughput,
  startFetchLoad,
  startH2Load,
  startLoad,
  startPipelinedLoad,
  waitForCompleted,
  get,
  pidOf,
  request,
  type H2Load,
  type H2LoadOptions,
  type H2LoadSummary,
  type Load,
  type LoadOptions,
  type LoadSummary,
  type Reply,
  type RequestOptions,
  type Route,
} from '@zero-downtime/verify/load';

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

export interface LedgerPipelineTotals {
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

export interface LedgerPipeline {
  waitForAnswers(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<LedgerPipelineTotals>;
}

/** Raw-TCP clients that pipeline batches of POSTs whose text bodies are unique ids; each answer must echo its id. */
export function startLedgerPipeline(options: {
  port: number;
  connections?: number;
  depth?: number;
  path?: string;
  prefix?: string;
  host?: string;
}): LedgerPipeline;
