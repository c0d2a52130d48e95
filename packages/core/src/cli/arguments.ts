/** The command line of every command: node:util parseArgs with its errors as UsageError, the flags of `zdt start` from the settings table. */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { readFlag } from '../config.js';
import type { Settings } from '../settings/settings.js';
import { SETTINGS } from '../settings/table.js';

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/** node:util parseArgs with its errors turned into UsageError (exit 2). */
type Parsed<Options extends FlagSpec> = ReturnType<
  typeof parseArgs<{ args: string[]; options: Options & { help: { type: 'boolean'; short: 'h' } }; allowPositionals: boolean; strict: true }>
>;

export function parseFlags<const Options extends FlagSpec>(args: string[], options: Options, allowPositionals: boolean): Parsed<Options> {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } as const }, allowPositionals, strict: true });
  } catch (error) {
    // Keep parseArgs' first sentence; its advice about '--' does not apply to most commands.
    throw new UsageError((error as Error).message.split(/\.\s/)[0] ?? 'bad arguments');
  }
}

/** `zdt start` flags that set one setting each, by the settings table; --env, --listen and --auto-drain read their own way. */
const SETTING_FLAGS = SETTINGS.filter((entry) => entry.flag !== undefined && !entry.flag.repeatable && entry.flag.value !== '');

export const START_FLAGS = {
  ...(Object.fromEntries(SETTING_FLAGS.map((entry) => [entry.flag!.name, { type: 'string' }])) as Record<string, { type: 'string' }>),
  config: { type: 'string' },
  only: { type: 'string' },
  env: { type: 'string', multiple: true },
  listen: { type: 'string', multiple: true },
  'auto-drain': { type: 'boolean' },
  'no-auto-drain': { type: 'boolean' },
} satisfies FlagSpec;

/** What the command line says, checked like the configuration file's keys; `--env NAME` comes back apart. */
export function commandLineSettings(values: Record<string, string | boolean | string[] | undefined>, workingDirectory: string) {
  const settings: Settings = {};
  for (const { flag, key } of SETTING_FLAGS) {
    const value = values[flag!.name];
    if (typeof value === 'string') Object.assign(settings, readFlag(`--${flag!.name}`, key, value, workingDirectory));
  }
  for (const address of (values.listen as string[] | undefined) ?? []) {
    settings.listen = [...(settings.listen ?? []), ...readFlag('--listen', 'listen', address, workingDirectory).listen!];
  }
  if (values['auto-drain'] && values['no-auto-drain']) throw new UsageError('--auto-drain and --no-auto-drain: give one');
  if (values['auto-drain']) settings.autoDrain = true;
  if (values['no-auto-drain']) settings.autoDrain = false;
  let envName: string | undefined;
  for (const item of (values.env as string[] | undefined) ?? []) {
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(item);
    if (assignment) {
      settings.env = { ...settings.env, [assignment[1]!]: assignment[2]! };
    } else if (/^[\w.-]+$/.test(item) && envName === undefined) {
      envName = item;
    } else {
      throw new UsageError(`--env: expected KEY=VALUE, or once the NAME of a PM2 ecosystem app's env_NAME, received ${JSON.stringify(item)}`);
    }
  }
  return { settings, envName };
}

