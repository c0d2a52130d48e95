/** The text of `zdt --help` and of each command's --help; the options of `zdt start` come from the settings table. */
import { settingsHelpOptions, startHelpOptions, wrap } from '../settings/reference.js';
import { renderControlLookup } from './control-lookup.js';
import { exitStatusHelp } from './exit-statuses.js';

/** The settings `zdt deploy` and `zdt releases` read (from the flags, else the configuration file). */
export const RELEASE_SETTING_KEYS = ['deployTo', 'keepReleases', 'install'] as const;

const CLIENT_FLAGS = [
  { usage: '--control PATH', description: "the supervisor's control socket (see 'zdt --help')" },
  { usage: '--config FILE', description: 'the configuration file to read the settings and the control socket from' },
] as const;

export const HELP = {
  main: `Usage: zdt <command> [options]

Commands:
  start [entry|config]  run the app under the supervisor, in the foreground
  reload                re-read the configuration, then replace every worker start-first
  scale N               add or remove workers start-first, leaving the others alone
  upgrade               hand the listening sockets to a new supervisor (a new zdt or Node.js), then exit
  deploy BUILD          keep a build (directory or tarball) as a new release, switch current to it, roll onto it
  releases              list the releases kept, which one serves, and why each refused one was refused
  rollback [RELEASE]    roll back to a kept release (default: the one before the serving one), start-first
  status                show the supervisor, the app and its workers
  stop                  drain every worker and stop the supervisor
  verify [entry|config] run the app, deploy it under real traffic, fail on any request a client would notice
                        (from @zero-downtime/verify: npm i -D @zero-downtime/verify)

Run 'zdt <command> --help' for a command's options.
${wrap(`Every command finds the control socket the same way: ${renderControlLookup(false)}. zdt only uses a socket that is yours, in a directory only you can write to (exit 2 with ERR_ZDT_CONTROL_UNTRUSTED otherwise).`, 0, 96)}
`,
  start: `Usage: zdt start [<entry> | <config file>] [options] [-- app args]

Runs the app as N cluster workers and keeps them serving through crashes and reloads.
Prints each step. SIGUSR2 or SIGHUP reloads; SIGTERM or SIGINT stops (a second one forces).

The settings come from the flags below and from a configuration file: --config FILE, a
*.config.{js,mjs,cjs} or .json file given instead of the entry (a PM2 ecosystem file too),
else zdt.config.{js,mjs,cjs,json} or the "zdt" field of package.json in the working
directory. A flag wins over the file. Without <entry>, the file's entry (or script) runs.

Options:
${startHelpOptions()}

DUR: 500ms, 30s, 2m, or a number of milliseconds (at most 2147483647ms).
${exitStatusHelp('start')}
`,
  reload: `Usage: zdt reload [--control PATH] [--config FILE] [--canary DUR]

Re-reads the configuration file and env file, then forks a replacement for every worker from
the code now on disk with the new env, args, node arguments and worker count, waits until it
is ready, and drains the old one. Prints progress. If a new worker fails before it is ready,
the rollout stops and every worker it already replaced is rolled back, start-first, to the
last generation that was fully ready; the last line says what serves afterwards.
A reload during a rollout queues one more rollout; further requests join that one.
--canary DUR holds this rollout for DUR after its first batch is ready and compares that
batch's 5xx ratio with the old generation's (as the canary setting does, for this deploy
only; 0 turns a configured canary off); a worse batch is refused and rolled back (exit 1).

${exitStatusHelp('reload')}
`,
  scale: `Usage: zdt scale N|max [--control PATH] [--config FILE]

Sets the number of workers. New workers run the generation serving now and are ready before
the command returns; removed workers (the highest ids) are drained. The other workers are
not touched. A later 'zdt reload' keeps this count unless the configuration file's workers
value changed.

${exitStatusHelp('scale')}
`,
  deploy: `Usage: zdt deploy <directory | tarball> [options]

Keeps the build as a release of its own, next to the ones before it: DIR/releases/<id>/ (the
deploy's UTC time), written at a hidden temporary name and renamed when complete, so no worker
ever forks a release being written. node_modules travel with the build, or --install CMD runs
in the new release's directory first (a failure fails the deploy: ERR_ZDT_INSTALL_FAILED). Then
DIR/current is switched to it atomically and the workers are rolled onto it start-first, as
'zdt reload' does. If the rollout is refused (a worker cannot boot), current is switched back,
every worker it replaced runs the previous release's files again, and 'zdt releases' keeps why.
The oldest releases beyond --keep-releases are removed (never the serving one). The supervisor
must run with the same deploy directory (zdt start --deploy-to DIR); when none answers, current
is switched and 'zdt start' runs the release.

Options:
${settingsHelpOptions(RELEASE_SETTING_KEYS, CLIENT_FLAGS)}

${exitStatusHelp('deploy')}
`,
  releases: `Usage: zdt releases [--deploy-to DIR] [--json] [--control PATH] [--config FILE]

Lists the releases kept in DIR/releases, oldest first: which one current points at, which one
the supervisor serves (when one answers), when each was deployed and from what, and for each
refused one, by which generation and why.

Options:
${settingsHelpOptions(['deployTo'], [...CLIENT_FLAGS, { usage: '--json', description: 'print the list as JSON' }])}

${exitStatusHelp('releases')}
`,
  rollback: `Usage: zdt rollback [RELEASE] [--control PATH] [--config FILE]

Switches current to a kept release and rolls the workers onto it start-first: RELEASE (an id that
'zdt releases' lists), else the newest release before the serving one that was never refused.
Refused like any rollout if its workers cannot become ready (current is switched back).

${exitStatusHelp('rollback')}
`,
  status: `Usage: zdt status [--control PATH] [--config FILE] [--json]

Shows the app's name and where its configuration came from, the supervisor state and uptime,
which generation each worker serves (and "mixed generations" while a rollback is retried),
the last rollout with its rollback and any cut requests, and each worker: id, pid,
generation, state, uptime, restarts, CPU time used since its fork, RSS, and any crash loop.

${exitStatusHelp('status')}
`,
  upgrade: `Usage: zdt upgrade [--node PATH] [--timeout DUR] [--control PATH] [--config FILE]

Starts a new supervisor ('zdt start' with the same arguments, working directory and environment,
re-reading the configuration; with the zdt now installed at the same path, on the Node.js at
--node PATH or else the same one) as a detached process that inherits the listening sockets.
Its workers accept on the same sockets as the old ones: both serve until every new worker is
ready. Then the new supervisor takes over the control socket and the PID file, the old workers
drain, and the old supervisor exits. If the new supervisor fails before it is ready (exits,
throws at boot, or is not ready within --timeout), it is stopped and the old one keeps serving.
Needs listening sockets the supervisor owns (--listen, or systemd socket activation).
One upgrade at a time; a reload or scale during one is refused.

Options:
  --node PATH              the Node.js binary of the new supervisor (default: the same)
  --timeout DUR            how long the new supervisor may take to be ready (default: the
                           ready timeout + 30s)

${exitStatusHelp('upgrade')}
`,
  stop: `Usage: zdt stop [--control PATH] [--config FILE]

Drains every worker in parallel (SIGKILL at drain + cleanup + 1s) and stops the supervisor.
${exitStatusHelp('stop')}
`,
} as const;

export type Command = keyof typeof HELP;
