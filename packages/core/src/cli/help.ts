/** The text of `zdt --help` and of each command's --help; the options of `zdt start` come from the settings table. */
import { startHelpOptions, wrap } from '../settings/reference.js';
import { renderControlLookup } from './control-lookup.js';
import { exitStatusHelp } from './exit-statuses.js';

export const HELP = {
  main: `Usage: zdt <command> [options]

Commands:
  start [entry|config]  run the app under the supervisor, in the foreground
  reload                re-read the configuration, then replace every worker start-first
  scale N               add or remove workers start-first, leaving the others alone
  upgrade               hand the listening sockets to a new supervisor (a new zdt or Node.js), then exit
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
