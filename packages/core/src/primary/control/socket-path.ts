/**
 * Where the control socket lives, and whether a socket there can be trusted.
 *
 * Whoever can create or replace the socket file answers every `zdt` command,
 * so both ends only use a socket that belongs to their own uid (root
 * included: root trusts uid 0 alone), in a directory that belongs to that uid
 * and that nobody else can write to (a sticky shared directory such as /tmp
 * does not qualify), reached through parent directories nobody else can
 * rearrange.
 */
import { accessSync, constants, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ControlPathError, ControlPermissionError, ControlUntrustedError } from '../../errors.js';

export const CONTROL_ENV = 'ZDT_CONTROL';

/** root's control directory (created 0700 when missing). */
export const ROOT_CONTROL_DIRECTORY = '/run/zdt';
export const CONTROL_SOCKET_NAME = 'zdt.sock';

/**
 * The longest Unix socket path, in bytes: sun_path less its terminating NUL,
 * 107 on Linux, 103 on macOS and the BSDs. Longer paths are silently truncated
 * by the system, so they are refused before anything is created.
 */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

const SYMLINK_LIMIT = 40;

function currentUid(): number | undefined {
  return process.getuid?.();
}

/** `<os.tmpdir()>/zdt-<uid>`: the fallback directory, created 0700 when missing. */
export function privateTmpControlDirectory(uid: number | undefined = currentUid()): string {
  return path.join(os.tmpdir(), `zdt-${uid ?? 'user'}`);
}

function runDirectoryUsable(): boolean {
  try {
    lstatSync(ROOT_CONTROL_DIRECTORY);
    // It exists: the checks decide whether it can be trusted; falling back elsewhere would hide that.
    return true;
  } catch {
    // Missing: usable when it can be created.
  }
  try {
    if (!statSync(path.dirname(ROOT_CONTROL_DIRECTORY)).isDirectory()) return false;
    accessSync(path.dirname(ROOT_CONTROL_DIRECTORY), constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The control socket path when none is given:
 * - `$ZDT_CONTROL` when set;
 * - root: `/run/zdt/zdt.sock` (the directory is created 0700 by `zdt start`), or
 *   `<os.tmpdir()>/zdt-0/zdt.sock` when /run is missing or not writable;
 * - other users: `$XDG_RUNTIME_DIR/zdt.sock` when that directory is their own and private,
 *   else `<os.tmpdir()>/zdt-<uid>/zdt.sock` (created 0700 by `zdt start`).
 * One supervisor per user by default; pass `--control` to run more.
 */
export function defaultControlPath(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env[CONTROL_ENV];
  if (explicit) return path.resolve(explicit);
  const uid = currentUid();
  if (uid === 0) {
    if (runDirectoryUsable()) return path.join(ROOT_CONTROL_DIRECTORY, CONTROL_SOCKET_NAME);
  } else if (uid !== undefined && env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR)) {
    const candidate = path.join(env.XDG_RUNTIME_DIR, CONTROL_SOCKET_NAME);
    try {
      checkSocketPathLength(candidate);
      checkControlDirectory(candidate, uid);
      return candidate;
    } catch {
      // Not usable or not private: the private directory under tmpdir.
    }
  }
  return path.join(privateTmpControlDirectory(uid), CONTROL_SOCKET_NAME);
}

/** `uid 65534 (nobody)`: the name when /etc/passwd has it (cheap, no NSS lookup). */
export function describeUid(uid: number): string {
  let name: string | undefined;
  if (uid === currentUid()) {
    try {
      name = os.userInfo().username;
    } catch {
      name = undefined;
    }
  }
  if (name === undefined) {
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const fields = line.split(':');
        if (fields[2] === String(uid) && fields[0]) {
          name = fields[0];
          break;
        }
      }
    } catch {
      // No /etc/passwd (or unreadable): the uid alone.
    }
  }
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

function trusted(uid: number): string {
  return uid === 0 ? 'root trusts only uid 0' : `only ${describeUid(uid)} and root are trusted`;
}

function mode(stats: Stats): string {
  return (stats.mode & 0o7777).toString(8).padStart(4, '0');
}

/** Refuses a socket path the system would truncate. Nothing is created before this check. */
export function checkSocketPathLength(socketPath: string): void {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ControlPathError(
      socketPath,
      `it is ${bytes} bytes long; a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} bytes on ${process.platform} (use a shorter path)`,
    );
  }
}

const missingEntries = new WeakSet<Error>();

/** True for the ControlPathError of a directory on the path that does not exist. */
export function isMissingEntry(error: unknown): boolean {
  return error instanceof Error && missingEntries.has(error);
}

function fsError(socketPath: string, entry: string, error: NodeJS.ErrnoException): Error {
  switch (error.code) {
    case 'ENOENT': {
      const missing = new ControlPathError(socketPath, `${entry} does not exist`);
      missingEntries.add(missing);
      return missing;
    }
    case 'ENOTDIR':
      return new ControlPathError(socketPath, `${entry} is not a directory`);
    case 'ELOOP':
      return new ControlPathError(socketPath, `${entry} has too many levels of symbolic links`);
    case 'EACCES':
    case 'EPERM':
      return new ControlPermissionError(socketPath, `${describeUid(currentUid() ?? -1)} may not look up ${entry} (${error.code})`, {
        cause: error,
      });
    default:
      return error;
  }
}

/**
 * Follows `target` one component at a time (symbolic links included) and
 * checks that nobody but `uid` or root can rearrange it: every directory on
 * the way belongs to root or `uid` and is writable by nobody else, unless it
 * is sticky (like /tmp, where others cannot rename or delete our entries);
 * every symbolic link belongs to root or `uid`. Returns the real path.
 */
function walkTrusted(socketPath: string, target: string, uid: number, depth: number): string {
  if (depth > SYMLINK_LIMIT) throw new ControlPathError(socketPath, `${target} has too many levels of symbolic links`);
  const trustedOwner = (stats: Stats) => stats.uid === uid || stats.uid === 0;
  let current = path.parse(target).root;
  const root = statSync(current);
  if (!trustedOwner(root) || ((root.mode & 0o022) !== 0 && (root.mode & 0o1000) === 0)) {
    throw new ControlUntrustedError(socketPath, `${current} belongs to ${describeUid(root.uid)} with mode ${mode(root)}`, root.uid);
  }
  for (const part of target.split(path.sep).filter(Boolean)) {
    if (part === '.') continue;
    if (part === '..') {
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, part);
    let stats: Stats;
    try {
      stats = lstatSync(next);
    } catch (error) {
      throw fsError(socketPath, next, error as NodeJS.ErrnoException);
    }
    if (!trustedOwner(stats)) {
      throw new ControlUntrustedError(
        socketPath,
        `${next} belongs to ${describeUid(stats.uid)}, who could put their own socket in its place (${trusted(uid)})${socketOwner(socketPath)}`,
        stats.uid,
      );
    }
    if (stats.isSymbolicLink()) {
      const link = readlinkSync(next);
      current = walkTrusted(socketPath, path.isAbsolute(link) ? link : `${current}${path.sep}${link}`, uid, depth + 1);
      continue;
    }
    if (!stats.isDirectory()) throw new ControlPathError(socketPath, `${next} is not a directory`);
    if ((stats.mode & 0o022) !== 0 && (stats.mode & 0o1000) === 0) {
      throw new ControlUntrustedError(
        socketPath,
        `${next} (mode ${mode(stats)}) can be written by users other than ${describeUid(stats.uid)}, who could put their own socket in its place${socketOwner(socketPath)}`,
        stats.uid,
      );
    }
    current = next;
  }
  return current;
}

/**
 * Throws unless the directory of `socketPath` is private to `uid`: it exists,
 * belongs to `uid`, is not writable by group or others (a sticky shared
 * directory such as /tmp is refused) and is reached only through directories
 * and links that nobody else can change.
 * ControlUntrustedError for a directory someone else controls,
 * ControlPathError when it is missing or not a directory,
 * ControlPermissionError when it cannot be looked up.
 */
export function checkControlDirectory(socketPath: string, uid: number | undefined = currentUid()): void {
  if (uid === undefined) return;
  const directory = path.dirname(path.resolve(socketPath));
  const real = walkTrusted(socketPath, directory, uid, 0);
  const stats = statSync(real);
  if (stats.uid !== uid) {
    throw new ControlUntrustedError(
      socketPath,
      `its directory ${directory} belongs to ${describeUid(stats.uid)}, not to ${describeUid(uid)}${socketOwner(socketPath)}`,
      stats.uid,
    );
  }
  if ((stats.mode & 0o022) !== 0) {
    throw new ControlUntrustedError(
      socketPath,
      `its directory ${directory} (${describeUid(stats.uid)}, mode ${mode(stats)}) can be written by other users, who could put their own socket there; use a directory only you can write to${socketOwner(socketPath)}`,
      socketOwnerUid(socketPath) ?? stats.uid,
    );
  }
}

function socketOwnerUid(socketPath: string): number | undefined {
  try {
    return lstatSync(socketPath).uid;
  } catch {
    return undefined;
  }
}

function socketOwner(socketPath: string): string {
  const owner = socketOwnerUid(socketPath);
  return owner === undefined ? '' : ` (the socket there belongs to ${describeUid(owner)})`;
}

/**
 * Throws ControlUntrustedError when an existing entry at `socketPath` belongs to
 * someone other than `uid`, ControlPathError when it is not a socket.
 * Returns false when nothing is there.
 */
export function checkExistingSocket(socketPath: string, uid: number | undefined = currentUid()): boolean {
  let stats: Stats;
  try {
    stats = lstatSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fsError(socketPath, socketPath, error as NodeJS.ErrnoException);
  }
  if (uid !== undefined && stats.uid !== uid) {
    throw new ControlUntrustedError(socketPath, `the socket belongs to ${describeUid(stats.uid)}, not to ${describeUid(uid)}`, stats.uid);
  }
  if (!stats.isSocket()) {
    throw new ControlPathError(socketPath, 'it exists and is not a Unix socket (an existing file is never replaced)');
  }
  return true;
}

/** The default directories `zdt start` creates (0700) when they are missing. */
function createdOnDemand(directory: string, uid: number): boolean {
  return (uid === 0 && directory === ROOT_CONTROL_DIRECTORY) || directory === privateTmpControlDirectory(uid);
}

/**
 * Everything the server checks before it listens: the length, the default
 * directory (created 0700 when missing), the directory's trust, and that the
 * caller can create the socket there.
 */
export function prepareControlDirectory(socketPath: string): void {
  checkSocketPathLength(socketPath);
  const uid = currentUid();
  if (uid === undefined) return;
  const directory = path.dirname(socketPath);
  if (createdOnDemand(directory, uid)) {
    try {
      mkdirSync(directory, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw creationError(socketPath, directory, error as NodeJS.ErrnoException);
    }
  }
  checkControlDirectory(socketPath, uid);
  try {
    accessSync(directory, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw creationError(socketPath, directory, error as NodeJS.ErrnoException);
  }
}

function creationError(socketPath: string, directory: string, error: NodeJS.ErrnoException): Error {
  if (error.code === 'EACCES' || error.code === 'EPERM') {
    return new ControlPermissionError(socketPath, `${describeUid(currentUid() ?? -1)} cannot create a socket in ${directory} (${error.code})`, {
      cause: error,
    });
  }
  if (error.code === 'EROFS') return new ControlPathError(socketPath, `${directory} is on a read-only file system`);
  return fsError(socketPath, directory, error);
}
