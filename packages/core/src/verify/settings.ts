/**
 * The app's settings as `zdt start` will resolve them from the same arguments: read here for the setup checks (drain
 * and cleanup budgets, ready timeout) and for the user's env file, which each release copies.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { logicalWorkingDirectory, DEFAULTS } from '../options.js';
import { Configuration, findConfigurationFile, isConfigurationFileName, readFlag, type ConfigKey, type Settings } from '../config.js';
import type { VerifyPlan } from './args.js';

/** The passed-on flags that are settings, by the key `readFlag()` checks them as. */
const SETTING_FLAGS: Record<string, ConfigKey> = {
  cwd: 'cwd',
  name: 'name',
  workers: 'workers',
  'env-file': 'envFile',
  'node-args': 'nodeArgs',
  ready: 'ready',
  'ready-timeout': 'readyTimeout',
  'drain-timeout': 'drainTimeout',
  'cleanup-timeout': 'cleanupTimeout',
  'heartbeat-timeout': 'heartbeatTimeout',
  'max-memory': 'maxMemory',
  'batch-size': 'batchSize',
  'log-format': 'logFormat',
};

export interface AppSettings {
  envFile: string | undefined;
  drainTimeoutMs: number;
  cleanupTimeoutMs: number;
  readyTimeoutMs: number;
  /** Variables the file or --env set: they win over the env file a release is written to. */
  env: Record<string, string>;
}

export async function readAppSettings(plan: VerifyPlan): Promise<AppSettings> {
  const { positional, values } = plan.start;
  const workingDirectory = logicalWorkingDirectory();
  const commandLine: Settings = {};
  for (const [flag, key] of Object.entries(SETTING_FLAGS)) {
    const value = values[flag];
    if (typeof value === 'string') Object.assign(commandLine, readFlag(`--${flag}`, key, value, workingDirectory));
  }
  for (const address of (values.listen as string[] | undefined) ?? []) readFlag('--listen', 'listen', address, workingDirectory);
  let envName: string | undefined;
  for (const item of (values.env as string[] | undefined) ?? []) {
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(item);
    if (assignment) commandLine.env = { ...commandLine.env, [assignment[1]!]: assignment[2]! };
    else if (/^[\w.-]+$/.test(item) && envName === undefined) envName = item;
    else throw new UsageError(`--env: expected KEY=VALUE, or once the NAME of a PM2 ecosystem app's env_NAME, received ${JSON.stringify(item)}`);
  }
  const positionalIsConfig = positional !== undefined && isConfigurationFileName(positional);
  if (positional !== undefined && !positionalIsConfig) commandLine.entry = positional;
  const named = (values.config as string | undefined) ?? (positionalIsConfig ? positional : undefined);
  const configFile = named === undefined ? findConfigurationFile(workingDirectory) : path.resolve(workingDirectory, named);
  const resolved = await new Configuration(configFile, commandLine, { only: values.only as string | undefined, envName }, workingDirectory).read();
  return {
    envFile: resolved.envFile,
    drainTimeoutMs: resolved.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs,
    cleanupTimeoutMs: resolved.cleanupTimeoutMs ?? DEFAULTS.cleanupTimeoutMs,
    readyTimeoutMs: resolved.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
    env: { ...resolved.fromFile.env, ...commandLine.env },
  };
}
