/**
 * The record every source of settings fills: a configuration file, a PM2 ecosystem file and the command line each
 * read into one `Settings`, which are then merged (config.ts). The table (table.ts) says which key fills which field.
 */
import type { StickyMode } from './connections.js';
import type { Readiness } from './readiness.js';

export type LogFormat = 'text' | 'json';

/** What a configuration file or the command line sets; every field optional, paths absolute except `entry`. */
export interface Settings {
  /** The app's name in `zdt status`. */
  name?: string;
  /** In a file, resolved against `cwd` (as in the API); on the command line, against the working directory. */
  entry?: string;
  cwd?: string;
  workers?: number;
  env?: Record<string, string>;
  envFile?: string;
  execArgv?: string[];
  args?: string[];
  readiness?: Readiness;
  readyTimeoutMs?: number;
  drainTimeoutMs?: number;
  cleanupTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  maxMemoryMb?: number;
  rolloutBatchSize?: number;
  canaryMs?: number;
  canaryMinRequests?: number;
  canaryThinTraffic?: 'pass' | 'fail' | 'extend';
  controlPath?: string;
  logFormat?: LogFormat;
  autoDrain?: boolean;
  /** `HOST:PORT` where the supervisor serves Prometheus metrics. */
  metrics?: string;
  /** Listening sockets the supervisor owns: `PORT`, `HOST:PORT`, `unix:PATH` (the path absolute). */
  listen?: string[];
  /** Absolute path of the PID file. */
  pidFile?: string;
  /** The base directory of the releases `zdt deploy` keeps (`releases/<id>/`, `current`); absolute. */
  deployTo?: string;
  keepReleases?: number;
  /** A shell command run in a new release's directory before it is switched to. */
  install?: string;
  /** Sticky routing for Socket.IO: by engine.io session id or by client address. */
  sticky?: StickyMode;
}
