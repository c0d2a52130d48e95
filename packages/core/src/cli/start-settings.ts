/**
 * The app's settings as `zdt start` resolves them from a command line: read by tools that start it (`zdt verify`:
 * its setup checks read the drain and cleanup budgets and the ready timeout, and each release copies the env file).
 */
import path from 'node:path';
import { Configuration, findConfigurationFile, isConfigurationFileName } from '../config.js';
import { DEFAULTS } from '../options.js';
import { logicalWorkingDirectory } from '../working-directory.js';
import { commandLineSettings } from './arguments.js';

export interface StartSettings {
  envFile: string | undefined;
  drainTimeoutMs: number;
  cleanupTimeoutMs: number;
  readyTimeoutMs: number;
  /** Variables the file or --env set: they win over the env file a release is written to. */
  env: Record<string, string>;
  /** What can refuse a release that boots and then fails: a health check as readiness (`http:PATH`), a canary window (ms, 0: none). */
  readiness: string;
  canaryMs: number;
}

/** `positional`: the entry or configuration file `zdt start` was given; `values`: its flags, parsed with START_FLAGS. */
export async function readStartSettings(start: { positional: string | undefined; values: Record<string, unknown> }): Promise<StartSettings> {
  const { positional, values } = start;
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
    readiness: resolved.readiness ?? DEFAULTS.readiness,
    canaryMs: resolved.canaryMs ?? DEFAULTS.canaryMs,
  };
}
