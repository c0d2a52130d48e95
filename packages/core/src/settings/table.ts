/**
 * Every setting of `zdt start`, once: its configuration-file key, the `Settings` field it fills, the
 * SupervisorOptions field it becomes, its flag, its PM2 ecosystem field, the environment variable that carries it,
 * how a value is read, its default, whether a reload applies it, and what it does. The flag parser, the
 * configuration-file reader, the reload check, `zdt start --help` and docs/reference/configuration.md all come from
 * this table; nothing else names a setting.
 */
import path from 'node:path';
import { InvalidOptionError } from '../errors.js';
import { LISTEN_EXPECTED, parseListenSpec } from '../primary/sockets/listeners.js';
import { WORKER_ENV } from '../protocol.js';
import { CONTROL_ENV } from '../primary/control/socket-path.js';
import type { Settings } from './settings.js';
import { readSticky } from './connections.js';
import { DEFAULTS, formatDuration } from './defaults.js';
import { readReadiness } from './readiness.js';
import { DEFAULT_KEEP_RELEASES } from '../releases/store.js';
import {
  argumentList,
  boolean,
  duration,
  environment,
  InvalidValue,
  listenAddress,
  MAX_WORKERS,
  oneOf,
  parseMemory,
  parseWorkerCount,
  text,
  wholeNumber,
} from './parse.js';

/** Where a relative path in a value is resolved: the configuration file's directory, or the working directory for a flag. */
export interface ReadContext {
  directory: string;
}

/** One setting. `read` takes a file's value (or a flag's text) and returns what goes into `field`. */
export interface Setting<Field extends keyof Settings = keyof Settings> {
  /** The key in zdt.config.* and package.json "zdt". */
  key: string;
  field: Field;
  /** The SupervisorOptions field, when the setting reaches the supervisor. */
  option?: string;
  /** `--flag`, with the placeholder of its value ('' for a switch); undefined when the command line sets it otherwise. */
  flag?: { name: string; value: string; repeatable?: boolean };
  /** How the command line gives it when not by its own flag (the entry, the app arguments). */
  commandLine?: string;
  pm2?: string;
  env?: string;
  read: (value: unknown, context: ReadContext) => NonNullable<Settings[Field]>;
  /** The default, as the docs and --help say it. */
  default: string;
  /** true: `zdt reload` applies a change; false: only the next `zdt start` or `zdt upgrade` does. */
  reload: boolean;
  description: string;
}

const resolved = (value: unknown, { directory }: ReadContext) => path.resolve(directory, text(value));

/** One address or a list of them; a Unix socket's path is resolved against the directory. */
function listenAddresses(value: unknown, { directory }: ReadContext): string[] {
  const items = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(items) || items.length === 0) throw new InvalidValue(`an address or an array of addresses: ${LISTEN_EXPECTED}`);
  return items.map((item: unknown) => {
    try {
      return parseListenSpec(item, directory).text;
    } catch (error) {
      if (error instanceof InvalidOptionError) {
        throw new InvalidValue(`${Array.isArray(value) ? 'each address ' : ''}${LISTEN_EXPECTED}${Array.isArray(value) ? `; ${JSON.stringify(item)} is not one` : ''}`);
      }
      throw error;
    }
  });
}

const HEARTBEAT_INTERVAL_MS = DEFAULTS.heartbeatIntervalMs;

function setting<Field extends keyof Settings>(entry: Setting<Field>): Setting {
  return entry as unknown as Setting;
}

export const SETTINGS: readonly Setting[] = [
  setting({ key: 'name', field: 'name', flag: { name: 'name', value: 'NAME' }, pm2: 'name', read: text, default: 'the package.json name', reload: true, description: "The app's name in 'zdt status'." }),
  setting({ key: 'entry', field: 'entry', option: 'entry', commandLine: '<entry>', pm2: 'script', read: text, default: 'required', reload: false, description: 'The app file each worker runs; in a file, relative to cwd.' }),
  setting({ key: 'cwd', field: 'cwd', option: 'cwd', flag: { name: 'cwd', value: 'DIR' }, pm2: 'cwd', read: resolved, default: "the configuration file's directory, else the current one", reload: false, description: "The workers' working directory; <entry> is resolved from here." }),
  setting({ key: 'workers', field: 'workers', option: 'workers', flag: { name: 'workers', value: 'N|max' }, pm2: 'instances', read: parseWorkerCount, default: 'available parallelism', reload: true, description: 'Number of workers (a reload applies a changed value in the file; zdt scale sets it meanwhile).' }),
  setting({ key: 'env', field: 'env', option: 'env', flag: { name: 'env', value: 'KEY=VALUE', repeatable: true }, pm2: 'env', read: environment, default: '{}', reload: true, description: "Variables for the workers; --env NAME picks a PM2 app's env_NAME." }),
  setting({ key: 'envFile', field: 'envFile', flag: { name: 'env-file', value: 'FILE' }, read: resolved, default: 'none', reload: true, description: 'KEY=value lines for the workers, re-read on every reload.' }),
  setting({ key: 'nodeArgs', field: 'execArgv', option: 'execArgv', flag: { name: 'node-args', value: 'ARGS' }, pm2: 'node_args', read: argumentList, default: '[]', reload: true, description: 'Node.js arguments for the workers (also accepted as the key execArgv).' }),
  setting({ key: 'args', field: 'args', option: 'args', commandLine: '-- ARGS', pm2: 'args', read: argumentList, default: '[]', reload: true, description: 'Arguments passed to the app.' }),
  setting({ key: 'ready', field: 'readiness', option: 'readiness', flag: { name: 'ready', value: 'listening|message|http:PATH' }, pm2: 'wait_ready', env: WORKER_ENV.readiness, read: readReadiness, default: DEFAULTS.readiness, reload: false, description: "Ready at the first 'listening'; when the app calls ready() from @zero-downtime/core/worker; or with http:PATH (http:/healthz) when the worker's own server answers 2xx to GET PATH, asked over a private connection and retried until the ready timeout (needs auto-drain)." }),
  setting({ key: 'readyTimeout', field: 'readyTimeoutMs', option: 'readyTimeoutMs', flag: { name: 'ready-timeout', value: 'DUR' }, pm2: 'listen_timeout', read: duration({ than: 0 }), default: formatDuration(DEFAULTS.readyTimeoutMs), reload: false, description: 'A new worker not ready by then is killed.' }),
  setting({ key: 'drainTimeout', field: 'drainTimeoutMs', option: 'drainTimeoutMs', flag: { name: 'drain-timeout', value: 'DUR' }, pm2: 'kill_timeout', env: WORKER_ENV.drainTimeoutMs, read: duration({ than: 0 }), default: formatDuration(DEFAULTS.drainTimeoutMs), reload: false, description: "How long a request in flight may run to completion when its worker drains; an app's own shorter drainTimeoutMs wins." }),
  setting({ key: 'cleanupTimeout', field: 'cleanupTimeoutMs', option: 'cleanupTimeoutMs', flag: { name: 'cleanup-timeout', value: 'DUR' }, env: WORKER_ENV.cleanupTimeoutMs, read: duration(), default: formatDuration(DEFAULTS.cleanupTimeoutMs), reload: false, description: "How long the app's cleanup hooks may take after the drain; a stopping worker is killed at drain + cleanup + 1s." }),
  setting({ key: 'heartbeatTimeout', field: 'heartbeatTimeoutMs', option: 'heartbeatTimeoutMs', flag: { name: 'heartbeat-timeout', value: 'DUR' }, read: duration({ than: HEARTBEAT_INTERVAL_MS, why: `the ${HEARTBEAT_INTERVAL_MS}ms ping interval` }), default: formatDuration(DEFAULTS.heartbeatTimeoutMs), reload: false, description: `A worker that loads the worker module and answers no ping (every ${formatDuration(HEARTBEAT_INTERVAL_MS)}) for this long is hung: replaced, then killed.` }),
  setting({ key: 'maxMemory', field: 'maxMemoryMb', option: 'maxMemoryMb', flag: { name: 'max-memory', value: 'SIZE' }, pm2: 'max_memory_restart', read: parseMemory, default: 'off', reload: false, description: 'Replace a worker whose RSS exceeds SIZE (512M, 1.5G).' }),
  setting({ key: 'batchSize', field: 'rolloutBatchSize', option: 'rolloutBatchSize', flag: { name: 'batch-size', value: 'N' }, read: wholeNumber(1, MAX_WORKERS), default: String(DEFAULTS.rolloutBatchSize), reload: false, description: 'Workers a rollout replaces at once.' }),
  setting({ key: 'canary', field: 'canaryMs', option: 'canaryMs', flag: { name: 'canary', value: 'DUR' }, read: duration(), default: 'off', reload: false, description: "Hold each rollout for DUR after its first batch is ready, compare that batch's 5xx ratio with the old generation's over the same window (one-sided Fisher test), and roll back a worse one. 'zdt reload --canary DUR' sets it for one deploy." }),
  setting({ key: 'canaryMinRequests', field: 'canaryMinRequests', option: 'canaryMinRequests', flag: { name: 'canary-min-requests', value: 'N' }, read: wholeNumber(1, 1_000_000_000), default: String(DEFAULTS.canaryMinRequests), reload: false, description: 'Canary requests needed before any verdict.' }),
  setting({ key: 'canaryThinTraffic', field: 'canaryThinTraffic', option: 'canaryThinTraffic', flag: { name: 'canary-thin-traffic', value: 'pass|fail|extend' }, read: oneOf('pass', 'fail', 'extend'), default: DEFAULTS.canaryThinTraffic, reload: false, description: 'When fewer requests reach the canary: accept it, refuse it, or extend the window by DUR at a time up to 5 x DUR, then refuse.' }),
  setting({ key: 'control', field: 'controlPath', flag: { name: 'control', value: 'PATH' }, env: CONTROL_ENV, read: resolved, default: "see 'zdt --help'", reload: false, description: 'The control socket path; every zdt command finds it the same way: --control, this key, $ZDT_CONTROL, the default.' }),
  setting({ key: 'logFormat', field: 'logFormat', flag: { name: 'log-format', value: 'text|json' }, read: oneOf('text', 'json'), default: 'text', reload: false, description: "The supervisor's log: text lines, or one JSON object per line; worker output is passed through as is." }),
  setting({ key: 'autoDrain', field: 'autoDrain', option: 'autoDrain', flag: { name: 'auto-drain', value: '' }, env: WORKER_ENV.autoDrain, read: boolean, default: String(DEFAULTS.autoDrain), reload: false, description: 'Load the worker side into every worker before the app (--no-auto-drain: load nothing).' }),
  setting({ key: 'metrics', field: 'metrics', option: 'metrics', flag: { name: 'metrics', value: 'HOST:PORT' }, read: listenAddress, default: 'off', reload: false, description: 'Serve Prometheus metrics at http://HOST:PORT/metrics.' }),
  setting({ key: 'listen', field: 'listen', option: 'listen', flag: { name: 'listen', value: 'ADDRESS', repeatable: true }, read: listenAddresses, default: 'none', reload: false, description: "A listening socket the supervisor owns: PORT, HOST:PORT or unix:PATH; needed by 'zdt upgrade'." }),
  setting({ key: 'deployTo', field: 'deployTo', flag: { name: 'deploy-to', value: 'DIR' }, read: resolved, default: 'none', reload: false, description: "The base directory of the releases 'zdt deploy' keeps: releases/<id>/ and a current link; with it, cwd defaults to DIR/current and the entry is a path inside the release." }),
  setting({ key: 'keepReleases', field: 'keepReleases', flag: { name: 'keep-releases', value: 'N' }, read: wholeNumber(2, 1000), default: String(DEFAULT_KEEP_RELEASES), reload: true, description: "Releases 'zdt deploy' keeps in DIR/releases, the newest ones (the serving and current ones are never removed)." }),
  setting({ key: 'install', field: 'install', flag: { name: 'install', value: 'CMD' }, read: text, default: 'none: node_modules travel with the build', reload: true, description: "A shell command 'zdt deploy' runs in the new release's directory before it switches to it (e.g. 'npm ci --omit=dev'); its failure fails the deploy." }),
  setting({ key: 'sticky', field: 'sticky', option: 'sticky', flag: { name: 'sticky', value: 'sid|ip' }, env: WORKER_ENV.sticky, read: readSticky, default: 'off', reload: false, description: "Sticky routing for Socket.IO: the supervisor accepts each connection and hands it to the worker that holds its session (sid: engine.io's session id; ip: the client address). Not with --listen." }),
  setting({ key: 'pidFile', field: 'pidFile', flag: { name: 'pid-file', value: 'PATH' }, read: resolved, default: 'none', reload: false, description: "Write the supervisor's pid there, and the new one's after 'zdt upgrade'; removed at the stop." }),
];

/** The configuration-file keys that name another key's setting. */
export const KEY_ALIASES: Readonly<Record<string, string>> = { execArgv: 'nodeArgs' };

/** Every key of zdt.config.* and package.json "zdt", an alias after the key it names. */
export const CONFIG_KEYS: readonly string[] = SETTINGS.flatMap((entry) => [
  entry.key,
  ...Object.keys(KEY_ALIASES).filter((alias) => KEY_ALIASES[alias] === entry.key),
]);

/** The SupervisorOptions fields the settings fill. */
export const SETTING_OPTIONS: readonly string[] = SETTINGS.flatMap((entry) => (entry.option === undefined ? [] : [entry.option]));

export function settingByKey(key: string): Setting | undefined {
  const name = Object.hasOwn(KEY_ALIASES, key) ? KEY_ALIASES[key]! : key;
  return SETTINGS.find((entry) => entry.key === name);
}

export function settingByFlag(flag: string): Setting | undefined {
  return SETTINGS.find((entry) => entry.flag?.name === flag);
}

/** The Settings fields only a restart (or `zdt upgrade`) applies, with the key that sets each. */
export const RESTART_ONLY: ReadonlyArray<Setting> = SETTINGS.filter((entry) => !entry.reload);

/** Reads one setting's value into Settings; InvalidValue when it does not fit. */
export function readSetting(entry: Setting, value: unknown, context: ReadContext): Settings {
  return { [entry.field]: entry.read(value, context) } as Settings;
}
