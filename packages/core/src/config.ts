/**
 * The configuration `zdt start` reads: `zdt.config.{js,mjs,cjs,json}` or the `"zdt"` field of package.json in the
 * working directory, a file named with `--config`, or a PM2 ecosystem file (`{ apps: [...] }`) mapped onto the same
 * settings, plus an env file. One table per format says what each key means; every value is validated here and a bad
 * one is a ConfigError naming the key and the file. `Configuration.read()` merges the file under the command line
 * (the flags win) and is called again on every reload, so a reload picks up what changed on disk.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, UsageError } from './errors.js';
import type { Readiness } from './options.js';
import { boolean, environment, InvalidValue, MAX_WORKERS, maxWorkers, text } from './settings/parse.js';
import { CONFIG_KEYS, RESTART_ONLY, readSetting, SETTINGS, settingByKey, type ReadContext } from './settings/table.js';

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
  controlPath?: string;
  logFormat?: LogFormat;
  autoDrain?: boolean;
  /** `HOST:PORT` where the supervisor serves Prometheus metrics. */
  metrics?: string;
  /** Listening sockets the supervisor owns: `PORT`, `HOST:PORT`, `unix:PATH` (the path absolute). */
  listen?: string[];
  /** Absolute path of the PID file. */
  pidFile?: string;
}

/** The files looked for in the working directory, in this order; more than one of them is an error. */
export const CONFIG_FILE_NAMES = ['zdt.config.js', 'zdt.config.mjs', 'zdt.config.cjs', 'zdt.config.json'] as const;

/** A positional argument of `zdt start` with such a name is a configuration file, not the app's entry. */
export function isConfigurationFileName(file: string): boolean {
  return /\.config\.(?:js|mjs|cjs|json)$/.test(file) || file.endsWith('.json');
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

// ------------------------------------------------------------------ env files

/**
 * dotenv-style lines: `KEY=value`, optional `export `, `#` comments, blank lines, values optionally in '…' (literal)
 * or "…" (\n, \t, \", \\ escapes); an unquoted value ends at ` #`. One line per variable.
 */
export function parseEnvFile(content: string, file: string): Record<string, string> {
  const env: Record<string, string> = {};
  content.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const key = `line ${index + 1}`;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new ConfigError(file, key, 'expected KEY=value (the key: a letter or _, then letters, digits or _)', { received: raw });
    const name = match[1]!;
    let value = match[2]!;
    const quote = value[0];
    if (quote === "'" || quote === '"') {
      let parsed = '';
      let end = -1;
      for (let position = 1; position < value.length; position++) {
        const char = value[position]!;
        if (char === quote) {
          end = position;
          break;
        }
        if (quote === '"' && char === '\\' && position + 1 < value.length) {
          const next = value[++position]!;
          parsed += ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[next] ?? next;
        } else {
          parsed += char;
        }
      }
      const rest = end < 0 ? '' : value.slice(end + 1).trim();
      if (end < 0 || (rest !== '' && !rest.startsWith('#'))) {
        throw new ConfigError(file, key, `expected a value closed by its ${quote} and nothing after it but a # comment`, { received: raw });
      }
      value = parsed;
    } else {
      value = value.replace(/\s+#.*$/, '').trim();
    }
    env[name] = value;
  });
  return env;
}

export function readEnvFile(file: string): Record<string, string> {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, undefined, `the env file cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  return parseEnvFile(content, file);
}

// ------------------------------------------------------------------ the zdt format

/** A flag's value, checked like the same key in a file; a bad one is a UsageError naming the flag and the value. */
export function readFlag(flag: string, key: string, value: string, workingDirectory: string): Settings {
  const entry = settingByKey(key)!;
  // Numbers in a file are numbers; on the command line everything is text.
  const input = key === 'batchSize' && /^\d+$/.test(value) ? Number(value) : value;
  try {
    return readSetting(entry, input, { directory: workingDirectory });
  } catch (error) {
    if (error instanceof InvalidValue) throw new UsageError(`${flag}: expected ${error.expected}, received ${JSON.stringify(value)}`);
    throw error;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Runs one key's reader; a bad value becomes a ConfigError naming the key and the file. */
function readKey(file: string, key: string, value: unknown, read: () => Settings): Settings {
  try {
    return read();
  } catch (error) {
    if (error instanceof InvalidValue) throw new ConfigError(file, key, `expected ${error.expected}`, { received: value });
    throw error;
  }
}

function readZdtSettings(object: unknown, file: string, context: ReadContext, prefix: string): Settings {
  if (!isObject(object)) {
    throw new ConfigError(file, prefix ? prefix.slice(0, -1) : undefined, 'expected an object of settings', { received: object });
  }
  const settings: Settings = {};
  for (const [key, value] of Object.entries(object)) {
    const entry = settingByKey(key);
    if (!entry) throw new ConfigError(file, `${prefix}${key}`, `unknown key; the keys are ${CONFIG_KEYS.join(', ')}`);
    if (value === undefined) continue;
    Object.assign(settings, readKey(file, `${prefix}${key}`, value, () => readSetting(entry, value, context)));
  }
  if (Object.hasOwn(object, 'nodeArgs') && Object.hasOwn(object, 'execArgv')) {
    throw new ConfigError(file, `${prefix}execArgv`, 'nodeArgs and execArgv are the same setting: keep one');
  }
  return settings;
}

// ------------------------------------------------------------------ the PM2 ecosystem format

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
  wait_ready: (value) => (boolean(value) ? { readiness: 'message' } : {}),
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
ignored(['pid_file'], 'zdt runs in the foreground and writes no pid file');
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

interface MappedApp {
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

function selectPm2App(object: Record<string, unknown>, file: string, selection: Selection, directory: string): MappedApp {
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

// ------------------------------------------------------------------ loading files

export interface Selection {
  /** `--only <name>`: the app of a PM2 ecosystem file to run. */
  only?: string;
  /** `--env <name>`: the env_<name> of a PM2 ecosystem app. */
  envName?: string;
}

export interface FileConfiguration {
  file: string;
  format: 'zdt' | 'package.json' | 'pm2';
  /** Relative paths in the file were resolved against it; the workers' default working directory. */
  directory: string;
  settings: Settings;
  /** PM2 fields that were ignored, one line per field. */
  warnings: string[];
}

/**
 * The configuration file in `directory`: the one zdt.config.* there, else package.json when it has a "zdt" field.
 * More than one is an error (which one was meant is not guessed).
 */
export function findConfigurationFile(directory: string): string | undefined {
  const found: string[] = CONFIG_FILE_NAMES.map((name) => path.join(directory, name)).filter((file) => existsSync(file));
  const packageJson = path.join(directory, 'package.json');
  try {
    const parsed = JSON.parse(readFileSync(packageJson, 'utf8')) as unknown;
    if (isObject(parsed) && Object.hasOwn(parsed, 'zdt')) found.push(packageJson);
  } catch {
    // No package.json, or one npm itself would refuse: not ours to judge.
  }
  if (found.length > 1) {
    throw new ConfigError(directory, undefined, `more than one configuration: ${found.map((file) => path.basename(file)).join(', ')}; keep one, or name it with --config`);
  }
  return found[0];
}

let loads = 0;

function isEsmFile(file: string): boolean {
  if (file.endsWith('.mjs')) return true;
  if (file.endsWith('.cjs')) return false;
  for (let directory = path.dirname(file); ; directory = path.dirname(directory)) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(directory, 'package.json'), 'utf8')) as { type?: unknown };
      return manifest.type === 'module';
    } catch {
      // none here, or unreadable: look further up
    }
    if (path.dirname(directory) === directory) return false;
  }
}

/** The file's value, read afresh each time (a reload must see the edit). */
async function loadFile(file: string): Promise<unknown> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new ConfigError(file, undefined, 'no such file');
  try {
    if (file.endsWith('.json')) return JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!/\.[cm]?js$/.test(file)) throw new ConfigError(file, undefined, 'expected a .js, .mjs, .cjs or .json file');
    if (isEsmFile(file)) {
      // A new URL each time: the ESM loader caches by URL. Each reload keeps one small module in memory.
      const namespace = (await import(`${pathToFileURL(file).href}?zdt-load=${++loads}`)) as { default?: unknown };
      if (!('default' in namespace)) throw new ConfigError(file, undefined, 'expected a default export (export default { ... })');
      return namespace.default;
    }
    const require = createRequire(file);
    delete require.cache[require.resolve(file)];
    return require(file) as unknown;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(file, undefined, `cannot be loaded: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
}

/** Loads and validates one configuration file (any of the three formats). */
export async function loadConfiguration(file: string, selection: Selection = {}): Promise<FileConfiguration> {
  const directory = path.dirname(file);
  const value = await loadFile(file);
  if (path.basename(file) === 'package.json') {
    if (!isObject(value) || !Object.hasOwn(value, 'zdt')) throw new ConfigError(file, 'zdt', 'expected a "zdt" field with the settings');
    return { file, format: 'package.json', directory, settings: readZdtSettings(value.zdt, file, { directory }, 'zdt.'), warnings: [] };
  }
  if (isObject(value) && Object.hasOwn(value, 'apps')) {
    const { settings, warnings } = selectPm2App(value, file, selection, directory);
    return { file, format: 'pm2', directory, settings, warnings };
  }
  return { file, format: 'zdt', directory, settings: readZdtSettings(value, file, { directory }, ''), warnings: [] };
}

/**
 * The `control` key of a configuration file, for the client commands: only that key is read and checked, so a
 * client finds the socket of a supervisor started with this file. Undefined when the file sets none (a PM2
 * ecosystem file has no such field).
 */
export async function controlPathFromFile(file: string): Promise<string | undefined> {
  const value = await loadFile(file);
  const object = path.basename(file) === 'package.json' && isObject(value) ? value.zdt : value;
  if (!isObject(object) || Object.hasOwn(object, 'apps') || object.control === undefined) return undefined;
  const key = path.basename(file) === 'package.json' ? 'zdt.control' : 'control';
  const entry = settingByKey('control')!;
  return readKey(file, key, object.control, () => readSetting(entry, object.control, { directory: path.dirname(file) })).controlPath;
}

// ------------------------------------------------------------------ merging with the command line

/** Everything `zdt start` runs with, after the command line was laid over the file. */
export interface ResolvedSettings extends Omit<Settings, 'entry' | 'cwd' | 'env' | 'name'> {
  name: string;
  /** Absolute. */
  entry: string;
  cwd: string;
  /** The extra environment: env file, then the file's env, then --env; the workers inherit the rest. */
  env: Record<string, string>;
  /** The configuration file read, undefined when everything came from the command line. */
  configFile: string | undefined;
  configFormat: FileConfiguration['format'] | undefined;
  /** What the file alone said, before the command line won. */
  fromFile: Settings;
  /** Ignored PM2 fields not reported by an earlier read. */
  warnings: string[];
}

/** The package.json name nearest above the entry file, else the entry's file name without its extension. */
export function appName(entryPath: string): string {
  for (let directory = path.dirname(entryPath); ; directory = path.dirname(directory)) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(directory, 'package.json'), 'utf8')) as { name?: unknown };
      if (typeof manifest.name === 'string' && manifest.name !== '') return manifest.name;
      break;
    } catch {
      // none here: look further up
    }
    if (path.dirname(directory) === directory) break;
  }
  return path.basename(entryPath).replace(/\.[^.]*$/, '');
}

/** Only the defined fields, so that spreading the command line over the file never erases a value with undefined. */
function defined(settings: Settings): Settings {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as Settings;
}

/**
 * The configuration of one `zdt start`: which file, what the command line said, and the app selected in it. Read
 * once at start and again on every reload; a file that no longer loads or validates rejects ConfigError.
 */
export class Configuration {
  private readonly warned = new Set<string>();

  constructor(
    readonly file: string | undefined,
    private readonly commandLine: Settings,
    private readonly selection: Selection,
    private readonly workingDirectory: string,
  ) {}

  async read(): Promise<ResolvedSettings> {
    const loaded = this.file === undefined ? undefined : await loadConfiguration(this.file, this.selection);
    const fromFile = loaded?.settings ?? {};
    const commandLine = defined(this.commandLine);
    const merged: Settings = { ...defined(fromFile), ...commandLine };
    const cwd = merged.cwd ?? loaded?.directory ?? this.workingDirectory;
    if (merged.entry === undefined) {
      throw new UsageError(
        loaded
          ? `missing <entry>: ${loaded.file} names no ${loaded.format === 'pm2' ? 'script' : 'entry'}, and none was given`
          : `missing <entry>: the app file to run (or a ${CONFIG_FILE_NAMES.join(', ')}, or a "zdt" field in package.json, in ${this.workingDirectory})`,
      );
    }
    // An entry typed on the command line is where the user is; one in the file is resolved against cwd, as in the API.
    const entry = path.resolve(commandLine.entry === undefined ? cwd : this.workingDirectory, merged.entry);
    const envFile = commandLine.envFile ?? fromFile.envFile;
    const env = { ...(envFile === undefined ? {} : readEnvFile(envFile)), ...fromFile.env, ...commandLine.env };
    const warnings = (loaded?.warnings ?? []).filter((warning) => !this.warned.has(warning));
    for (const warning of warnings) this.warned.add(warning);
    return {
      ...merged,
      name: merged.name ?? appName(entry),
      entry,
      cwd,
      env,
      configFile: loaded?.file,
      configFormat: loaded?.format,
      fromFile,
      warnings,
    };
  }
}

/** The keys whose value differs between two reads and that only a restart (or `zdt upgrade`) applies. */
export function restartOnlyChanges(before: ResolvedSettings, after: ResolvedSettings): string[] {
  return RESTART_ONLY.filter(({ field }) => JSON.stringify(before[field]) !== JSON.stringify(after[field])).map(({ key }) => key);
}
