/**
 * `zdt start`'s command line read into a StartCommand: the flags, the configuration file they name or the one found in
 * the working directory, the sockets inherited from systemd or from `zdt upgrade`, all checked before anything runs.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { logicalWorkingDirectory } from '../options.js';
import { Configuration, findConfigurationFile, isConfigurationFileName, type ResolvedSettings } from '../config.js';
import type { Settings } from '../settings/settings.js';
import { takeActivatedSockets, takeInheritedSockets } from '../primary/upgrade/upgrade.js';
import { commandLineSettings, parseFlags, START_FLAGS } from './arguments.js';
import { probePath } from '../settings/readiness.js';
import { HELP } from './help.js';
import { print } from './output.js';

/** What one `zdt start` was told, read before anything runs. */
export interface StartCommand {
  /** The arguments after `start`, given again to a successor by `zdt upgrade`. */
  argv: string[];
  workingDirectory: string;
  /** What a successor started by 'zdt upgrade' is given: this environment, as it was at start. */
  startEnvironment: NodeJS.ProcessEnv;
  inherited: ReturnType<typeof takeInheritedSockets>;
  activated: ReturnType<typeof takeActivatedSockets>;
  commandLine: Settings;
  configuration: Configuration;
  started: ResolvedSettings;
}

/** Undefined when --help was asked for (and printed). */
export async function readStartCommand(argv: string[]): Promise<StartCommand | undefined> {
  const separator = argv.indexOf('--');
  const own = separator >= 0 ? argv.slice(0, separator) : argv;
  const appArgs = separator >= 0 ? argv.slice(separator + 1) : undefined;
  const { values, positionals } = parseFlags(own, START_FLAGS, true);
  if (values.help) {
    print(HELP.start);
    return undefined;
  }
  // Sockets from systemd or from the supervisor that started this one; their variables leave the environment here.
  const inherited = takeInheritedSockets();
  const activated = takeActivatedSockets();
  const startEnvironment = { ...process.env };
  if (positionals.length > 1) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}; put app arguments after --`);
  }
  const workingDirectory = logicalWorkingDirectory();
  const positional = positionals[0];
  const positionalIsConfig = positional !== undefined && isConfigurationFileName(positional);
  if (positionalIsConfig && values.config !== undefined) {
    throw new UsageError(`${JSON.stringify(positional)} and --config ${JSON.stringify(values.config)}: name one configuration file`);
  }
  const named = values.config ?? (positionalIsConfig ? positional : undefined);
  // Kept logical (not realpath'd): a file under a `current` symlink is read from the release it points to at each reload.
  const configFile = named === undefined ? findConfigurationFile(workingDirectory) : path.resolve(workingDirectory, named);
  const { settings: commandLine, envName } = commandLineSettings(values, workingDirectory);
  if (positional !== undefined && !positionalIsConfig) commandLine.entry = positional;
  if (appArgs !== undefined) commandLine.args = appArgs;
  const configuration = new Configuration(configFile, commandLine, { only: values.only, envName }, workingDirectory);
  const started = await configuration.read();
  if ((values.only !== undefined || envName !== undefined) && started.configFormat !== 'pm2') {
    const flag = values.only !== undefined ? `--only ${values.only}` : `--env ${envName}`;
    throw new UsageError(`${flag} picks an app or its env_NAME in a PM2 ecosystem file; ${started.configFile ?? 'no configuration file was read'}${started.configFile ? ' is not one' : ''}`);
  }
  if (started.autoDrain === false && probePath(started.readiness) !== undefined) {
    // The probe runs in the worker side, which --no-auto-drain keeps out of the workers: no worker could ever pass.
    throw new UsageError(`--ready (ready) ${JSON.stringify(started.readiness)} needs the worker side in every worker, and --no-auto-drain (autoDrain: false) loads none: drop one of the two`);
  }
  return { argv, workingDirectory, startEnvironment, inherited, activated, commandLine, configuration, started };
}
