/**
 * A PM2 ecosystem file (`{ apps: [...] }`) read as zdt settings: the app picked with --only, its fields mapped (the
 * settings table names the PM2 field of each setting; the rest are mapped here or ignored with a warning saying why),
 * and its env_NAME laid over env with --env NAME.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ConfigError, UsageError } from './errors.js';
import type { Settings } from './settings/settings.js';
import { environment, InvalidValue, isObject, MAX_WORKERS, maxWorkers, readKey } from './settings/parse.js';
import { readSetting, SETTINGS, type ReadContext } from './settings/table.js';
import { READINESS_EXPECTED, readReadiness } from './settings/readiness.js';

export interface Selection {
  /** `--only <name>`: the app of a PM2 ecosystem file to run. */
  only?: string;
  /** `--env <name>`: the env_<name> of a PM2 ecosystem app. */
  envName?: string;
}

/** PM2's `max_memory_restart`: "300M", "1G", "512K", or a number of bytes. Returns MiB. */
function pm2Memory(value: unknown): number {
  const expected = 'a size like "300M", "1G", "512K", or a number of bytes';
  let bytes = Number.NaN;
  if (typeof value === 'number') bytes = value;
  else if (typeof value === 'string') {
    const match = /^(\d+(?:\.\d+)?)\s*([kmg])?b?$/i.exec(value.trim());
    const unit = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match?.[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
    if (match) bytes = Number(match[1]) * unit;
  }
  if (!Number.isFinite(bytes) || !(bytes > 0)) throw new InvalidValue(expected);
  return bytes / 1024 ** 2;
}

interface AppContext extends ReadContext {
  /** `--env <name>`: env_<name> is laid over env. */
  envName: string | undefined;
}

/** The PM2 field of each setting whose PM2 value reads like zdt's own (the settings table names them). */
const PM2_SAME: Record<string, (value: unknown, context: AppContext) => Settings> = Object.fromEntries(
  SETTINGS.filter((entry) => entry.pm2 !== undefined).map((entry) => [entry.pm2!, (value: unknown, context: AppContext) => readSetting(entry, value, context)]),
);

/** PM2 fields zdt takes over (README "Coming from PM2" has the table): the table's, and those PM2 reads its own way. */
const PM2_FIELDS: Record<string, (value: unknown, context: AppContext) => Settings> = {
  ...PM2_SAME,
  instances: (value) => ({ workers: pm2Instances(value) }),
  exec_mode: (value) => {
    if (typeof value !== 'string' || !/^(?:cluster|fork)(?:_mode)?$/.test(value)) throw new InvalidValue('"cluster" or "fork"');
    return {};
  },
  interpreter_args: PM2_SAME.node_args!,
  max_memory_restart: (value) => ({ maxMemoryMb: pm2Memory(value) }),
  // true as PM2 means it; zdt also takes a readiness here ('http:/healthz'), which PM2 itself reads as true.
  wait_ready: (value) => {
    if (typeof value === 'boolean') return value ? { readiness: 'message' } : {};
    if (typeof value !== 'string') throw new InvalidValue(`true, false or a readiness: ${READINESS_EXPECTED}`);
    return { readiness: readReadiness(value) };
  },
  port: (value) => {
    if (typeof value !== 'number' && (typeof value !== 'string' || value === '')) throw new InvalidValue('a port number');
    return { env: { PORT: String(value) } };
  },
};

/** PM2 fields that mean nothing under zdt, with why: each one present is warned about once. */
const PM2_IGNORED: Record<string, string> = {};
function ignored(fields: string[], why: string): void {
  for (const field of fields) PM2_IGNORED[field] = why;
}
ignored(['watch', 'ignore_watch', 'watch_delay', 'watch_options'], "zdt does not watch files: deploy, then run 'zdt reload'");
ignored(
  ['out_file', 'error_file', 'log_file', 'output', 'error', 'log', 'merge_logs', 'combine_logs', 'log_date_format', 'time', 'log_type', 'disable_logs'],
  'zdt and the workers write to stdout/stderr: journald or docker logs keep them',
);
ignored(
  ['autorestart', 'max_restarts', 'min_uptime', 'restart_delay', 'exp_backoff_restart_delay', 'stop_exit_codes'],
  'zdt always restarts a crashed worker, with exponential back-off',
);
ignored(['cron_restart'], "zdt has no scheduled restarts: run 'zdt reload' from a systemd timer or cron");
ignored(['shutdown_with_message'], 'zdt tells a worker to stop with its own message; the worker module drains on it and on SIGINT/SIGTERM');
ignored(['instance_var', 'increment_var'], 'each worker gets ZDT_WORKER_ID (1..N) instead');
ignored(['pid_file'], 'zdt writes a PID file only when given --pid-file (or the pidFile key)');
ignored(['source_map_support'], "set node_args: ['--enable-source-maps'] instead");
ignored(['kill_retry_time', 'treekill'], 'a stopping worker is drained, then SIGKILLed at drain + cleanup + 1s');
ignored(['filter_env'], 'workers inherit the environment zdt was started with, plus env');
ignored(['vizion', 'post_update', 'force', 'namespace', 'automation', 'pmx', 'deep_monitoring', 'append_env_to_name', 'name_prefix', 'version', 'max_restarts_window'], 'a PM2-only feature');

function pm2Instances(value: unknown): number {
  const expected = 'a whole number, "max", 0 (all CPUs) or -N (all CPUs but N)';
  if (value === 'max') return maxWorkers();
  const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number)) throw new InvalidValue(expected);
  // As PM2 means them: 0 is every CPU, -1 every CPU but one.
  if (number <= 0) return Math.max(1, Math.min(MAX_WORKERS, availableParallelism() + number));
  if (number > MAX_WORKERS) throw new InvalidValue(`${expected}, at most ${MAX_WORKERS}`);
  return number;
}

export interface MappedApp {
  settings: Settings;
  warnings: string[];
}

function mapPm2App(app: Record<string, unknown>, file: string, key: string, context: AppContext): MappedApp {
  const settings: Settings = {};
  const warnings: string[] = [];
  const execArgv: string[] = [];
  let env: Record<string, string> | undefined;
  for (const [field, value] of Object.entries(app)) {
    if (value === undefined) continue;
    const fieldKey = `${key}.${field}`;
    const mapper = Object.hasOwn(PM2_FIELDS, field) ? PM2_FIELDS[field] : undefined;
    if (mapper) {
      const { execArgv: more, env: variables, ...mapped } = readKey(file, fieldKey, value, () => mapper(value, context));
      // node_args and interpreter_args add up; port adds PORT to env.
      if (more) execArgv.push(...more);
      if (variables) env = { ...env, ...variables };
      Object.assign(settings, mapped);
      if (field === 'exec_mode' && String(value).startsWith('fork')) {
        warnings.push(`${fieldKey} "${String(value)}" ignored: zdt runs the app as node:cluster workers sharing the port (cluster mode)`);
      }
      continue;
    }
    if (field.startsWith('env_')) continue; // laid over env below when --env selects it
    if (field === 'interpreter' || field === 'exec_interpreter') {
      if (value !== 'node' && !(typeof value === 'string' && path.basename(value) === 'node')) {
        warnings.push(`${fieldKey} ${JSON.stringify(value)} ignored: zdt runs the app with the node running zdt`);
      }
      continue;
    }
    const why = Object.hasOwn(PM2_IGNORED, field) ? PM2_IGNORED[field] : 'not a PM2 field zdt knows';
    warnings.push(`${fieldKey} ignored: ${why}`);
  }
  if (context.envName !== undefined) {
    const selected = `env_${context.envName}`;
    if (!Object.hasOwn(app, selected)) {
      const available = Object.keys(app).filter((field) => field.startsWith('env_'));
      throw new UsageError(
        `--env ${context.envName}: ${typeof app.name === 'string' ? `app "${app.name}"` : key} in ${file} has no ${selected}${available.length > 0 ? ` (it has ${available.join(', ')})` : ''}`,
      );
    }
    env = { ...env, ...readKey(file, `${key}.${selected}`, app[selected], () => ({ env: environment(app[selected]) })).env };
  }
  // PM2 sets PORT from port over whatever env says.
  if (env && Object.hasOwn(app, 'port') && app.port !== undefined) env.PORT = String(app.port);
  if (env) settings.env = env;
  if (execArgv.length > 0) settings.execArgv = execArgv;
  if (settings.entry === undefined) throw new ConfigError(file, `${key}.script`, 'required: the app file to run');
  // PM2 runs one instance unless told otherwise; zdt's own default (every CPU) would change what migrates.
  settings.workers ??= 1;
  return { settings, warnings };
}

export function selectPm2App(object: Record<string, unknown>, file: string, selection: Selection, directory: string): MappedApp {
  const apps = object.apps;
  if (!Array.isArray(apps) || apps.length === 0) throw new ConfigError(file, 'apps', 'expected a non-empty array of apps', { received: apps });
  const names = apps.map((app, index) => (isObject(app) && typeof app.name === 'string' ? app.name : `apps[${index}]`));
  let index = 0;
  if (selection.only !== undefined) {
    const wanted = selection.only;
    if (wanted.includes(',')) throw new UsageError(`--only ${JSON.stringify(wanted)}: one supervisor runs one app; name one of ${names.join(', ')}`);
    index = names.indexOf(wanted);
    if (index < 0) throw new UsageError(`--only ${JSON.stringify(wanted)}: no such app in ${file}; its apps: ${names.join(', ')}`);
  } else if (apps.length > 1) {
    throw new UsageError(`${file} has ${apps.length} apps (${names.join(', ')}); one supervisor runs one app: pick it with --only <name>`);
  }
  const app = apps[index];
  const key = `apps[${index}]`;
  if (!isObject(app)) throw new ConfigError(file, key, 'expected an object', { received: app });
  const mapped = mapPm2App(app, file, key, { directory, envName: selection.envName });
  const others = Object.keys(object).filter((field) => field !== 'apps');
  for (const field of others) {
    mapped.warnings.push(field === 'deploy' ? `${field} ignored: zdt does not deploy; it reloads what a deploy put on disk` : `${field} ignored: not a PM2 field zdt knows`);
  }
  return mapped;
}
