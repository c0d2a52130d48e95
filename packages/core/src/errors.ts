/**
 * One catalog of every error zero-downtime throws. Each error has a stable
 * `code` (ERR_ZDT_*) that scripts and tests can match on; messages name the
 * problem and what was received. Adapters reuse these classes.
 */

export class ZdtError extends Error {
  readonly code: string;
  /** The CLI's exit status for this error: 2 for bad input (nothing was attempted), 3 for requests cut, 1 otherwise. */
  get exitStatus(): number {
    return 1;
  }

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'ZdtError';
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** An option has a value of the wrong type or out of range. */
export class InvalidOptionError extends ZdtError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'InvalidOptionError';
  readonly option: string;
  readonly received: unknown;

  constructor(option: string, expected: string, received: unknown) {
    super('ERR_ZDT_INVALID_OPTION', `Invalid option "${option}": expected ${expected}, received ${describe(received)}`);
    this.option = option;
    this.received = received;
  }
}

/** The entry file given to the supervisor does not exist or is not a file. */
export class EntryNotFoundError extends ZdtError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'EntryNotFoundError';
  readonly entry: string;

  constructor(entry: string, resolved: string) {
    super('ERR_ZDT_ENTRY_NOT_FOUND', `Entry file not found: ${describe(entry)} (looked for ${resolved})`);
    this.entry = entry;
  }
}

/** start() could not bring every worker to ready; everything it started was stopped. */
export class StartFailedError extends ZdtError {
  override readonly name = 'StartFailedError';
  readonly workerId: number | undefined;

  constructor(message: string, workerId?: number, options?: { cause?: unknown }) {
    super('ERR_ZDT_START_FAILED', message, options);
    this.workerId = workerId;
  }
}

/** Which generation each worker slot serves, after a rollout or its rollback. */
export interface ServingWorker {
  workerId: number;
  /** Undefined when the slot has no ready worker right now (it is restarting). */
  generation: number | undefined;
  /** True when the worker was forked from files overwritten in place since its generation was first forked. */
  overwritten?: boolean;
}

/** What a failed rollout left serving. */
export interface RollbackSummary {
  /** The generation rolled back to: the last one that was fully ready. */
  toGeneration: number;
  /** Workers of the refused generation replaced again by `toGeneration`. */
  rolledBack: number;
  /** Workers of the refused generation still serving (the rollback could not replace them yet). */
  remaining: number;
  /** True when every worker serves `toGeneration` again. */
  complete: boolean;
  serving: ServingWorker[];
  /**
   * Set when the refused release was written over the previous one's files in place: the ready workers that run the
   * refused files (rolled back by number only, or restarted), by id.
   */
  overwritten?: number[];
}

/**
 * A new worker of a rollout failed before it was ready (exited, threw, timed out). The rollout stopped and every
 * worker it had already replaced was replaced again, start-first, by the last generation that was fully ready; the
 * message says what serves afterwards.
 */
export class RolloutFailedError extends ZdtError {
  override readonly name = 'RolloutFailedError';
  readonly generation: number;
  readonly workerId: number | undefined;
  readonly pid: number | undefined;
  readonly reason: string;
  readonly rollback: RollbackSummary;

  constructor(
    details: { generation: number; workerId?: number; pid?: number; reason: string; rollback: RollbackSummary; outcome: string },
    options?: { cause?: unknown },
  ) {
    const who = details.workerId === undefined ? '' : `worker ${details.workerId} (pid ${details.pid ?? '?'}) `;
    super('ERR_ZDT_ROLLOUT_FAILED', `Rollout of generation ${details.generation} failed: ${who}${details.reason}; ${details.outcome}`, options);
    this.generation = details.generation;
    this.workerId = details.workerId;
    this.pid = details.pid;
    this.reason = details.reason;
    this.rollback = details.rollback;
  }
}

/**
 * A rollout or stop finished, but workers were still serving at their drain deadline: the requests or
 * connections they held were cut. `zdt reload` and `zdt stop` exit 3 with it.
 */
export class RequestsCutError extends ZdtError {
  override get exitStatus(): number {
    return 3;
  }
  override readonly name = 'RequestsCutError';
  readonly cuts: ReadonlyArray<{ workerId: number; pid: number; cut: number | undefined; killed: boolean }>;

  constructor(message: string, cuts: ReadonlyArray<{ workerId: number; pid: number; cut: number | undefined; killed: boolean }>) {
    super('ERR_ZDT_REQUESTS_CUT', message);
    this.cuts = cuts;
  }
}

/** `scale()` could not bring a new worker to ready; the slots it added were removed again. */
export class ScaleFailedError extends ZdtError {
  override readonly name = 'ScaleFailedError';
  /** How many workers serve now. */
  readonly workers: number;

  constructor(message: string, workers: number) {
    super('ERR_ZDT_SCALE_FAILED', message);
    this.workers = workers;
  }
}

/** A method was called in a supervisor state that does not allow it (reload while stopped, start twice...). */
export class InvalidStateError extends ZdtError {
  override readonly name = 'InvalidStateError';
  readonly state: string;

  constructor(action: string, state: string) {
    super('ERR_ZDT_INVALID_STATE', `Cannot ${action} while the supervisor is ${state}`);
    this.state = state;
  }
}

/** Another live supervisor already answers on the control socket path. */
export class ControlInUseError extends ZdtError {
  override readonly name = 'ControlInUseError';
  readonly path: string;

  constructor(path: string) {
    super('ERR_ZDT_CONTROL_IN_USE', `Another supervisor is already running with control socket ${path}`);
    this.path = path;
  }
}

/** No supervisor answers on the control socket path. */
export class ControlUnavailableError extends ZdtError {
  override readonly name = 'ControlUnavailableError';
  readonly path: string;

  constructor(path: string, options?: { cause?: unknown }) {
    super('ERR_ZDT_CONTROL_UNAVAILABLE', `No supervisor is listening on control socket ${path}`, options);
    this.path = path;
  }
}

/** Bad command-line usage (unknown command or flag, missing or malformed value), or a malformed control request. The CLI exits 2. */
export class UsageError extends ZdtError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'UsageError';

  constructor(message: string) {
    super('ERR_ZDT_USAGE', message);
  }
}

/** A control socket path that zdt will not use, with the path and the reason. The CLI exits 2 for each kind. */
abstract class ControlSocketError extends ZdtError {
  readonly path: string;
  readonly reason: string;

  constructor(code: string, message: string, path: string, reason: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.path = path;
    this.reason = reason;
  }
}

/**
 * A control socket, its directory or a directory above it belongs to another user or can be written by
 * others, so whatever answers there may not be the caller's supervisor. Neither `zdt start` nor the
 * client commands use it.
 */
export class ControlUntrustedError extends ControlSocketError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'ControlUntrustedError';
  /** The uid that owns the socket (or the directory found at fault), when known. */
  readonly owner: number | undefined;

  constructor(path: string, reason: string, owner?: number) {
    super('ERR_ZDT_CONTROL_UNTRUSTED', `Refusing control socket ${path}: ${reason}`, path, reason);
    this.owner = owner;
  }
}

/**
 * The control socket path cannot be used: longer than the system's Unix socket limit, its directory is
 * missing or not a directory, or a non-socket file is in the way. Nothing is created.
 */
export class ControlPathError extends ControlSocketError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'ControlPathError';

  constructor(path: string, reason: string) {
    super('ERR_ZDT_CONTROL_PATH', `Unusable control socket path ${path}: ${reason}`, path, reason);
  }
}

/** EACCES/EPERM on the control socket or its directory (not "nobody listening"). */
export class ControlPermissionError extends ControlSocketError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'ControlPermissionError';

  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_ZDT_CONTROL_PERMISSION', `Permission denied on control socket ${path}: ${reason}`, path, reason, options);
  }
}

/**
 * A configuration file (`zdt.config.*`, the `"zdt"` field of package.json, a PM2 ecosystem file) or an env file
 * cannot be used: it does not load, has an unknown key or a bad value. Names the file and the key (or line). The CLI
 * exits 2; a reload that re-reads a broken file fails with it and changes nothing.
 */
export class ConfigError extends ZdtError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'ConfigError';
  readonly file: string;
  /** The key at fault (`drainTimeout`, `zdt.workers`, `apps[0].instances`, `line 3`), when there is one. */
  readonly key: string | undefined;
  readonly received: unknown;

  constructor(file: string, key: string | undefined, problem: string, options: { received?: unknown; cause?: unknown } = {}) {
    const received = 'received' in options ? `, received ${describe(options.received)}` : '';
    super('ERR_ZDT_CONFIG', `Invalid configuration ${file}: ${key === undefined ? '' : `"${key}": `}${problem}${received}`, { cause: options.cause });
    this.file = file;
    this.key = key;
    this.received = options.received;
  }
}

/**
 * A listening socket the supervisor was to own cannot be used: a `--listen` address, a `LISTEN_FDS` socket from
 * systemd or a socket inherited from the previous supervisor that is malformed, not a listening socket, or was
 * closed. Names the address or fd and what was received. The CLI exits 2.
 */
export class ListenError extends ZdtError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'ListenError';
  /** The address (`127.0.0.1:3000`, `unix:/run/app.sock`) or `fd N` at fault. */
  readonly address: string;
  readonly reason: string;

  constructor(address: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_ZDT_LISTEN', `Cannot use listening socket ${address}: ${reason}`, options);
    this.address = address;
    this.reason = reason;
  }
}

/** `zdt upgrade` (or a reload or scale) while an upgrade is under way: one upgrade at a time, nothing else meanwhile. */
export class UpgradeInProgressError extends ZdtError {
  override readonly name = 'UpgradeInProgressError';
  /** The pid of the new supervisor being started. */
  readonly successorPid: number | undefined;

  constructor(action: string, successorPid: number | undefined) {
    super(
      'ERR_ZDT_UPGRADE_IN_PROGRESS',
      `Cannot ${action}: an upgrade to a new supervisor${successorPid === undefined ? '' : ` (pid ${successorPid})`} is under way; try again once 'zdt upgrade' has returned`,
    );
    this.successorPid = successorPid;
  }
}

/**
 * The new supervisor of `zdt upgrade` could not take over: it could not be started, exited or crashed before every
 * one of its workers was ready, or was not ready in time. It was stopped; the old supervisor and its workers keep
 * serving, and the message says so.
 */
export class UpgradeFailedError extends ZdtError {
  override readonly name = 'UpgradeFailedError';
  readonly reason: string;
  /** The new supervisor's pid, when it was started. */
  readonly successorPid: number | undefined;

  constructor(reason: string, successorPid: number | undefined, options?: { cause?: unknown; outcome?: string }) {
    const outcome = options?.outcome ?? `supervisor pid ${process.pid} and its workers keep serving`;
    super('ERR_ZDT_UPGRADE_FAILED', `Upgrade failed: ${reason}; ${outcome}`, options);
    this.reason = reason;
    this.successorPid = successorPid;
  }
}

/** The PID file (`--pid-file`) cannot be written: its directory is missing or not writable. The CLI exits 2. */
export class PidFileError extends ZdtError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'PidFileError';
  readonly path: string;

  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_ZDT_PID_FILE', `Cannot write the PID file ${path}: ${reason}`, options);
    this.path = path;
  }
}

/**
 * `zdt verify` was asked for, but @zero-downtime/verify (where it lives, with its load clients) is not installed in
 * the project nor beside @zero-downtime/core. Names where it looked and the install line. The CLI exits 2.
 */
export class VerifyNotInstalledError extends ZdtError {
  override get exitStatus(): number {
    return 2;
  }
  override readonly name = 'VerifyNotInstalledError';
  readonly searched: string[];

  constructor(searched: string[]) {
    super('ERR_ZDT_VERIFY_NOT_INSTALLED', `zdt verify is in the package @zero-downtime/verify, which is not installed (looked from ${searched.join(' and from ')}); install it with: npm i -D @zero-downtime/verify`);
    this.searched = searched;
  }
}

/** `zdt deploy` could not keep the build as a release (copy or unpack failed); nothing was switched. */
export class DeployFailedError extends ZdtError {
  override readonly name = 'DeployFailedError';
  readonly source: string;

  constructor(source: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_ZDT_DEPLOY_FAILED', `Deploy failed: ${source} could not be kept as a release: ${reason}; nothing was switched`, options);
    this.source = source;
  }
}

/** The install command of `zdt deploy` failed in the new release's directory; the release was removed, nothing was switched. */
export class InstallFailedError extends ZdtError {
  override readonly name = 'InstallFailedError';
  readonly command: string;
  readonly exitCode: number | null;

  constructor(command: string, exitCode: number | null, signal: string | null, output: string) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    super('ERR_ZDT_INSTALL_FAILED', `Deploy failed: the install command ${JSON.stringify(command)} ${how}${output ? `: ${output}` : ''}; the release was removed, nothing was switched`);
    this.command = command;
    this.exitCode = exitCode;
  }
}

/** The CLI's exit status for any error, by the one policy the error classes carry (1 for anything unknown). */
export function exitStatusOf(error: unknown): number {
  return error instanceof ZdtError ? error.exitStatus : 1;
}
