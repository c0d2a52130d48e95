/**
 * `zdt deploy`, `zdt releases` and `zdt rollback`: the releases zdt keeps (releases/store.ts). The build is copied
 * and installed here, in the client, so a first deploy works before any supervisor runs; switching `current` and
 * rolling the workers onto it is the supervisor's (releases/switch.ts), asked over the control socket.
 */
import path from 'node:path';
import { ControlUnavailableError, UsageError } from '../errors.js';
import { findConfigurationFile, loadConfiguration, readFlag } from '../config.js';
import type { Settings } from '../settings/settings.js';
import { logicalWorkingDirectory } from '../options.js';
import { sendControlCommand, type ControlRequest } from '../primary/control/server.js';
import { describeServing } from '../primary/rollout/rollout.js';
import { runInstall } from '../releases/install.js';
import { DEFAULT_KEEP_RELEASES, ReleaseStore, type KeptRelease } from '../releases/store.js';
import type { ReleaseRolloutResult } from '../releases/switch.js';
import { parseFlags } from './arguments.js';
import { findControlSocket, unloadedWarning } from './control-lookup.js';
import { BAD_INPUT_CODES, report, withCuts } from './client.js';
import { HELP } from './help.js';
import { print } from './output.js';
import type { CliStatus } from './status-format.js';

const FLAGS = {
  control: { type: 'string' },
  config: { type: 'string' },
  'deploy-to': { type: 'string' },
  'keep-releases': { type: 'string' },
  install: { type: 'string' },
  json: { type: 'boolean' },
} as const;

type Values = { control?: string; config?: string; 'deploy-to'?: string; 'keep-releases'?: string; install?: string; json?: boolean };

/** The release settings: each flag wins over the configuration file (--config FILE, else the working directory's). */
async function releaseSettings(values: Values, workingDirectory: string): Promise<Settings & { deployTo: string }> {
  const file = values.config === undefined ? findConfigurationFile(workingDirectory) : path.resolve(workingDirectory, values.config);
  const settings: Settings = file === undefined ? {} : { ...(await loadConfiguration(file)).settings };
  if (values['deploy-to'] !== undefined) Object.assign(settings, readFlag('--deploy-to', 'deployTo', values['deploy-to'], workingDirectory));
  if (values['keep-releases'] !== undefined) Object.assign(settings, readFlag('--keep-releases', 'keepReleases', values['keep-releases'], workingDirectory));
  if (values.install !== undefined) Object.assign(settings, readFlag('--install', 'install', values.install, workingDirectory));
  if (settings.deployTo === undefined) {
    throw new UsageError(`no deploy directory: give --deploy-to DIR or the deployTo key of the configuration file (${file ?? `none found in ${workingDirectory}`})`);
  }
  return settings as Settings & { deployTo: string };
}

/** One control request whose answer is a release rollout: progress printed as it comes, the summary line last. */
async function rollRequest(controlPath: string, request: ControlRequest, what: 'deploy' | 'rollback'): Promise<number> {
  const response = await sendControlCommand(controlPath, request, (progress) => print(progress.message));
  if (response.type === 'error') {
    process.stderr.write(`zdt: ${response.code}: ${response.message}\n`);
    return BAD_INPUT_CODES.has(response.code) ? 2 : 1;
  }
  const result = response.data as ReleaseRolloutResult;
  const serving = result.serving.every((worker) => worker.generation === result.generation && !worker.overwritten)
    ? `generation ${result.generation} serves on every worker`
    : describeServing(result.serving);
  const removed = result.removed.length > 0 ? `; removed release(s) ${result.removed.join(', ')}` : '';
  const summary = `${what} done: release ${result.release} serves (${serving}, ${result.replaced.length} worker(s) replaced in ${result.durationMs}ms)${result.previous ? `, release ${result.previous} kept` : ''}${removed}`;
  return report(withCuts('reload', summary, result.cuts));
}

export async function deploy(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, true);
  if (values.help) {
    print(HELP.deploy);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'missing BUILD: the directory or tarball to deploy' : `unexpected argument ${JSON.stringify(positionals[1])}`);
  }
  const workingDirectory = logicalWorkingDirectory();
  const settings = await releaseSettings(values, workingDirectory);
  // The configuration file loaded above (or threw): the socket is found with it.
  const controlPath = (await findControlSocket(values, workingDirectory)).path;
  const store = new ReleaseStore(settings.deployTo);
  const install = settings.install;
  const id = await store.keep(path.resolve(workingDirectory, positionals[0]!), install === undefined ? undefined : (directory) => runInstall(install, directory, print));
  print(`release ${id} kept in ${store.directoryOf(id)}`);
  try {
    const keep = settings.keepReleases === undefined ? {} : { keepReleases: settings.keepReleases };
    return await rollRequest(controlPath, { command: 'deploy', release: id, deployTo: store.base, ...keep }, 'deploy');
  } catch (error) {
    if (!(error instanceof ControlUnavailableError)) throw error;
    // No supervisor yet (a first deploy) or none running: the next `zdt start` runs what current points at.
    const previous = store.current();
    store.switchTo(id);
    const removed = store.prune(settings.keepReleases ?? DEFAULT_KEEP_RELEASES, [id, previous]);
    const removal = removed.length > 0 ? `; removed release(s) ${removed.join(', ')}` : '';
    print(`no supervisor answers at ${controlPath}: current -> releases/${id}, nothing was rolled; 'zdt start' runs it${removal}`);
    return 0;
  }
}

export async function rollback(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { control: { type: 'string' }, config: { type: 'string' } }, true);
  if (values.help) {
    print(HELP.rollback);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const found = await findControlSocket(values, logicalWorkingDirectory());
  if (found.unloaded) process.stderr.write(unloadedWarning(found));
  const controlPath = found.path;
  const request: ControlRequest = positionals[0] === undefined ? { command: 'rollback' } : { command: 'rollback', release: positionals[0] };
  return rollRequest(controlPath, request, 'rollback');
}

/** `serving, current`, `kept`, `refused by generation 3: worker 2 ...` */
function describeKept(release: KeptRelease, current: string | undefined, serving: string | undefined): string {
  const roles = [release.id === serving ? 'serving' : '', release.id === current ? 'current' : ''].filter(Boolean);
  const refused = release.refused ? `refused${release.refused.generation === undefined ? '' : ` by generation ${release.refused.generation}`} at ${release.refused.at}: ${release.refused.reason}` : '';
  const state = [...roles, refused].filter(Boolean).join(', ') || 'kept';
  return `${release.id.padEnd(18)} ${state}${release.deployedAt ? `; deployed ${release.deployedAt}` : ''}${release.source ? ` from ${release.source}` : ''}`;
}

export async function releases(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, false);
  if (values.help) {
    print(HELP.releases);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const workingDirectory = logicalWorkingDirectory();
  const settings = await releaseSettings(values, workingDirectory);
  const store = new ReleaseStore(settings.deployTo);
  // The configuration file loaded above (or threw): the socket is found with it.
  const controlPath = (await findControlSocket(values, workingDirectory)).path;
  // Which release serves is the supervisor's to say; without one, only the link is known.
  let serving: string | undefined;
  let supervisor = `no supervisor answers at ${controlPath}`;
  try {
    const response = await sendControlCommand(controlPath, 'status');
    if (response.type === 'result') {
      const status = response.data as CliStatus;
      serving = status.release ? store.idOf(status.release) : undefined;
      supervisor = serving ? `supervisor pid ${status.pid} serves release ${serving}` : `supervisor pid ${status.pid} serves no release kept here (${status.release})`;
    }
  } catch (error) {
    if (!(error instanceof ControlUnavailableError)) throw error;
  }
  const kept = store.list();
  const current = store.current();
  if (values.json) {
    print(JSON.stringify({ deployTo: store.base, current: current ?? null, serving: serving ?? null, releases: kept }, null, 2));
    return 0;
  }
  for (const release of kept) print(describeKept(release, current, serving));
  print(`${kept.length} release(s) kept in ${store.releasesDirectory}; current -> ${current ?? '(none)'}; ${supervisor}`);
  return 0;
}
