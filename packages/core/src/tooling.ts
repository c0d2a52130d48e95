/**
 * `@zero-downtime/core/tooling`: what a tool that runs `zdt start` shares with it (today `@zero-downtime/verify`, which
 * installs the matching version): the flags `zdt start` reads, its reading of the settings from a command line and a
 * configuration file, the exit statuses as every --help words them, and host:port as zdt writes it. Apps do not need
 * it; the supervisor never loads it.
 */
export { START_FLAGS } from './cli/arguments.js';
export { exitStatusHelp } from './cli/exit-statuses.js';
export { readStartSettings, type StartSettings } from './cli/start-settings.js';
export { hostPort } from './host-port.js';
