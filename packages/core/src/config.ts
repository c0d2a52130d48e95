/**
 * The configuration `zdt start` reads: `zdt.config.{js,mjs,cjs,json}` or the `"zdt"` field of package.json in the
 * working directory, a file named with `--config`, or a PM2 ecosystem file (`{ apps: [...] }`) mapped onto the same
 * settings, plus an env file. One table per format says what each key means; every value is validated here and a bad
 * one is a ConfigError naming the key and the file. `Configuration.read()` merges the file under the command line
 * (the flags win) and is called again on every reload, so a reload picks up what changed on disk.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, UsageError } from './errors.js';
import { selectPm2App, type Selection } from './pm2.js';
import { InvalidValue, isObject, readKey } from './settings/parse.js';
import { CONFIG_KEYS, RESTART_ONLY, readSetting, settingByKey, type ReadContext } from './settings/table.js';
import type { Settings } from './settings/settings.js';

export type { Selection } from './pm2.js';

/** The files looked for in the working directory, in this order; more than one of them is an error. */
export const CONFIG_FILE_NAMES = ['zdt.config.js', 'zdt.config.mjs', 'zdt.config.cjs', 'zdt.config.json'] as const;

/** A positional argument of `zdt start` with such a name is a configuration file, not the app's entry. */
export function isConfigurationFileName(file: string): boolean {
  return /\.config\.(?:js|mjs|cjs|json)$/.test(file) || file.endsWith('.json');
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
  const input = (key === 'batchSize' || key === 'canaryMinRequests' || key === 'keepReleases') && /^\d+$/.test(value) ? Number(value) : value;
  try {
    return readSetting(entry, input, { directory: workingDirectory });
  } catch (error) {
    if (error instanceof InvalidValue) throw new UsageError(`${flag}: expected ${error.expected}, received ${JSON.stringify(value)}`);
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

// ------------------------------------------------------------------ loading files

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
    // With releases zdt keeps, the workers run the release `current` points at, and the entry is a path inside it.
    const releases = merged.deployTo === undefined ? undefined : path.join(merged.deployTo, 'current');
    const cwd = merged.cwd ?? releases ?? loaded?.directory ?? this.workingDirectory;
    if (merged.entry === undefined) {
      throw new UsageError(
        loaded
          ? `missing <entry>: ${loaded.file} names no ${loaded.format === 'pm2' ? 'script' : 'entry'}, and none was given`
          : `missing <entry>: the app file to run (or a ${CONFIG_FILE_NAMES.join(', ')}, or a "zdt" field in package.json, in ${this.workingDirectory})`,
      );
    }
    // An entry typed on the command line is where the user is; one in the file is resolved against cwd, as in the API.
    const entry = path.resolve(commandLine.entry === undefined || releases !== undefined ? cwd : this.workingDirectory, merged.entry);
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
