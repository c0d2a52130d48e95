/**
 * The app's settings as `zdt start` will resolve them from the same arguments: read here for the setup checks (drain
 * and cleanup budgets, ready timeout) and for the user's env file, which each release copies.
 */
import path from 'node:path';
import { logicalWorkingDirectory, DEFAULTS } from '../options.js';
import { Configuration, findConfigurationFile, isConfigurationFileName } from '../config.js';
import { commandLineSettings } from '../cli/arguments.js';
import type { VerifyPlan } from './args.js';

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
  // The same reading of the flags as `zdt start`'s (cli/arguments.ts, from the settings table).
  const { settings: commandLine, envName } = commandLineSettings(values as Record<string, string | boolean | string[] | undefined>, workingDirectory);
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
