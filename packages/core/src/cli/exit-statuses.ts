/**
 * What each command's exit status means, once: each command's --help and the exit-status table of
 * docs/reference/cli.md are rendered from it, and test/cli-reference.test.ts checks that every error code named in a
 * column is one the catalog exits with that status for (docs/reference/errors.md).
 */
import { wrap } from '../settings/reference.js';

export type ExitingCommand = 'start' | 'reload' | 'scale' | 'upgrade' | 'deploy' | 'releases' | 'rollback' | 'status' | 'stop' | 'verify';
type Meanings = { 0: string; 1: string; 2: string; 3?: string };

/** What 1 and 2 also mean for every command that talks to a running supervisor. */
const NO_SUPERVISOR = 'no supervisor answered (`ERR_ZDT_CONTROL_UNAVAILABLE`)';
const UNTRUSTED = 'an untrusted control socket (`ERR_ZDT_CONTROL_UNTRUSTED`)';
const OTHER_SUPERVISOR = 'the configuration file does not load and the supervisor found without it runs another (`ERR_ZDT_CONFIG`: nothing was done)';

/** Markdown: codes in backticks (dropped in --help). */
export const EXIT_STATUSES: Record<ExitingCommand, Meanings> = {
  start: {
    0: 'stopped cleanly',
    1: 'the start failed (the cause is printed), the control socket is in use (`ERR_ZDT_CONTROL_IN_USE`), or the stop was forced',
    2: `bad usage (\`ERR_ZDT_USAGE\`), a bad configuration (\`ERR_ZDT_CONFIG\` names the key and the file), ${UNTRUSTED}`,
    3: 'the final stop cut requests at the drain deadline (`ERR_ZDT_REQUESTS_CUT`)',
  },
  reload: {
    0: 'every worker runs the new generation and every old one drained cleanly',
    1: `the rollout failed (\`ERR_ZDT_ROLLOUT_FAILED\`: rolled back, or not yet; the message says which generation each worker runs), or ${NO_SUPERVISOR}`,
    2: `bad usage, ${UNTRUSTED}, a configuration that no longer loads when the supervisor re-reads it (\`ERR_ZDT_CONFIG\`: nothing was changed, the workers keep serving), or ${OTHER_SUPERVISOR}`,
    3: 'every worker runs the new generation, but old workers were cut at the drain deadline (`ERR_ZDT_REQUESTS_CUT` names them)',
  },
  scale: {
    0: 'done',
    1: `a new worker failed before it was ready (\`ERR_ZDT_SCALE_FAILED\`: the workers added for it were removed again), or ${NO_SUPERVISOR}`,
    2: `bad usage (N is not a whole number from 1 to 1024 or "max"), ${UNTRUSTED}, or ${OTHER_SUPERVISOR}`,
    3: 'done, but removed workers were cut at the drain deadline (`ERR_ZDT_REQUESTS_CUT` names them)',
  },
  upgrade: {
    0: 'the new supervisor serves and every old worker drained cleanly',
    1: `the upgrade failed (\`ERR_ZDT_UPGRADE_FAILED\`: the old supervisor keeps serving), another one is under way (\`ERR_ZDT_UPGRADE_IN_PROGRESS\`), or ${NO_SUPERVISOR}`,
    2: `bad usage, ${UNTRUSTED}, or ${OTHER_SUPERVISOR}`,
    3: 'the new supervisor serves, but old workers were cut at the drain deadline (`ERR_ZDT_REQUESTS_CUT`)',
  },
  deploy: {
    0: 'every worker runs the new release and every old one drained cleanly (or no supervisor answered: current points at the new release, which the next `zdt start` runs)',
    1: 'the rollout was refused (`ERR_ZDT_ROLLOUT_FAILED`: current points at the previous release again, and every worker runs its files), the build could not be copied or unpacked (`ERR_ZDT_DEPLOY_FAILED`) or the install command failed (`ERR_ZDT_INSTALL_FAILED`): nothing was switched',
    2: `bad usage (no such build, no deploy directory, a supervisor that keeps its releases elsewhere or none), ${UNTRUSTED}, or a configuration file that does not load (\`ERR_ZDT_CONFIG\`)`,
    3: 'every worker runs the new release, but old workers were cut at the drain deadline (`ERR_ZDT_REQUESTS_CUT`)',
  },
  releases: {
    0: 'listed (which release serves only when a supervisor answers)',
    1: 'the deploy directory cannot be read',
    2: `bad usage (no deploy directory), ${UNTRUSTED}, or a configuration file that does not load (\`ERR_ZDT_CONFIG\`)`,
  },
  rollback: {
    0: 'every worker runs that release and every old one drained cleanly',
    1: `the rollout was refused (\`ERR_ZDT_ROLLOUT_FAILED\`: current points at the serving release again), or ${NO_SUPERVISOR}`,
    2: `bad usage (no such release, none before the serving one, a supervisor that keeps no releases), or ${UNTRUSTED}`,
    3: 'every worker runs that release, but old workers were cut at the drain deadline (`ERR_ZDT_REQUESTS_CUT`)',
  },
  status: {
    0: 'printed (also when the configuration file does not load: a warning on stderr says so, and another when the supervisor found without it runs another)',
    1: NO_SUPERVISOR,
    2: `bad usage or ${UNTRUSTED}`,
  },
  stop: {
    0: 'stopped cleanly',
    1: NO_SUPERVISOR,
    2: `bad usage, ${UNTRUSTED}, or ${OTHER_SUPERVISOR}`,
    3: 'stopped, but requests were cut at the drain deadline (`ERR_ZDT_REQUESTS_CUT` names the workers)',
  },
  verify: {
    0: 'nothing failed that should not',
    1: 'a request failed (by cause), a deploy event or a setup check failed, or the app did not start (the cause is printed)',
    2: 'bad usage, or @zero-downtime/verify is not installed (`ERR_ZDT_VERIFY_NOT_INSTALLED`)',
  },
};

const STATUSES = [0, 1, 2, 3] as const;

/** The "Exit status: ..." paragraph of a command's --help. */
export function exitStatusHelp(command: ExitingCommand): string {
  const meanings = EXIT_STATUSES[command];
  const parts = STATUSES.filter((status) => meanings[status] !== undefined).map((status) => `${status} ${meanings[status]!.replaceAll('`', '')}`);
  return wrap(`Exit status: ${parts.join('; ')}.`, 0, 96);
}

/** The exit-status table of docs/reference/cli.md. */
export function renderExitStatusTable(): string {
  const rows = (Object.keys(EXIT_STATUSES) as ExitingCommand[]).map((command) => {
    const meanings = EXIT_STATUSES[command];
    return `| \`zdt ${command}\` | ${STATUSES.map((status) => (meanings[status] ?? '').replaceAll('|', '\\|')).join(' | ')} |`;
  });
  return ['| command | 0 | 1 | 2 | 3 |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}
