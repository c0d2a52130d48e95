/**
 * Where a client command (`zdt status`, `stop`, `reload`, `scale`, `upgrade`) finds the control socket, and what it
 * does when the configuration file that could name it does not load: it says so, goes on down the lookup order, and
 * acts only on a supervisor started with that same file.
 *
 * CONTROL_LOOKUP is the order as the code has it: `zdt --help` and docs/reference/cli.md are rendered from it, and
 * test/control-lookup.test.ts walks it against the code with one real `zdt status` per step.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE_NAMES, controlPathFromFile, findConfigurationFile, readFlag } from '../config.js';
import { ConfigError } from '../errors.js';
import { CONTROL_ENV, defaultControlPath } from '../primary/control/server.js';

export type ControlSource = 'flag' | 'file' | 'env' | 'root' | 'runtime-directory' | 'tmpdir';

/** The lookup order, first match wins; `text` is Markdown (backticks are dropped for --help). */
export const CONTROL_LOOKUP: ReadonlyArray<{ source: ControlSource; text: string }> = [
  { source: 'flag', text: '`--control PATH`' },
  {
    source: 'file',
    text: 'the `control` key of the configuration file (`--config FILE`, else the one in the working directory; a client command passes over a file that does not load, and says so on stderr)',
  },
  { source: 'env', text: '`$ZDT_CONTROL`' },
  { source: 'root', text: 'for root, `/run/zdt/zdt.sock` (`<tmpdir>/zdt-0/zdt.sock` when `/run` is missing or not writable)' },
  { source: 'runtime-directory', text: 'for other users, `$XDG_RUNTIME_DIR/zdt.sock` when that directory is theirs and private' },
  { source: 'tmpdir', text: '`<tmpdir>/zdt-<uid>/zdt.sock`' },
];

/** "A, else B, else C": the lookup order as one sentence. */
export function renderControlLookup(markdown: boolean): string {
  const text = CONTROL_LOOKUP.map((step) => step.text).join(', else ');
  return markdown ? text : text.replaceAll('`', '');
}

/** A configuration file that did not load while the control socket was looked for. */
export interface UnloadedConfiguration {
  error: ConfigError;
  /** The files a supervisor started from here could have been started with (`--config FILE`, or the working directory's). */
  candidates: string[];
}

export interface FoundControl {
  path: string;
  /** Set when the configuration file did not load and the socket was found without it. */
  unloaded?: UnloadedConfiguration;
}

/** The control socket, found the way `zdt start` finds it; a configuration file that does not load is passed over. */
export async function findControlSocket(values: { control?: unknown; config?: unknown }, workingDirectory: string): Promise<FoundControl> {
  if (typeof values.control === 'string') return { path: readFlag('--control', 'control', values.control, workingDirectory).controlPath! };
  const named = typeof values.config === 'string' ? path.resolve(workingDirectory, values.config) : undefined;
  try {
    const file = named ?? findConfigurationFile(workingDirectory);
    const fromFile = file === undefined ? undefined : await controlPathFromFile(file);
    return { path: fromFile ?? defaultControlPath() };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const candidates = named ? [named] : [...CONFIG_FILE_NAMES, 'package.json'].map((name) => path.join(workingDirectory, name));
    return { path: defaultControlPath(), unloaded: { error, candidates } };
  }
}

/** The stderr lines that say the file did not load and where the socket is looked for instead. */
export function unloadedWarning(found: FoundControl): string {
  const { error } = found.unloaded!;
  const where = process.env[CONTROL_ENV] ? `$${CONTROL_ENV}` : 'the default path';
  return (
    `zdt: warning: ${error.code}: ${error.message}\n` +
    `zdt: warning: looking for the supervisor without that file, at ${found.path} (${where}); if the file names another control socket in its "control" key, pass --control PATH\n`
  );
}

function samePath(one: string, other: string): boolean {
  if (one === other) return true;
  try {
    return realpathSync(one) === realpathSync(other);
  } catch {
    return false;
  }
}

/**
 * Undefined when the supervisor that answered was started with one of the candidate files; otherwise what it runs
 * instead. With the file broken, the socket found without it may be another app's supervisor.
 */
export function otherConfiguration(unloaded: UnloadedConfiguration, status: unknown): string | undefined {
  const config = (status as { app?: { config?: unknown } } | undefined)?.app?.config;
  if (typeof config === 'string' && unloaded.candidates.some((candidate) => samePath(candidate, config))) return undefined;
  return typeof config === 'string' ? `the configuration ${config}` : 'no configuration file (the command line only)';
}
