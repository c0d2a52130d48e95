/**
 * The releases zdt keeps, laid out as Capistrano does: `<base>/releases/<id>/` per release, and `<base>/current`, a
 * relative symlink to the one that is deployed. A release is written at a hidden temporary name (`.<id>.partial`)
 * and renamed into `releases/` only when complete, so nothing forks a release that is still being written; `current`
 * is switched atomically (a new link at a temporary name, renamed over it). What zdt learned about each release
 * (when it was deployed, from what, why it was refused) is kept in `<base>/zdt-releases.json`, written the same way.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { DeployFailedError, UsageError } from '../errors.js';

/** Releases kept when the `keepReleases` setting is not given (Capistrano's keep_releases default). */
export const DEFAULT_KEEP_RELEASES = 5;

/** What zdt recorded about one release. */
export interface ReleaseRecord {
  deployedAt?: string;
  source?: string;
  /** Set when a rollout to it was refused: by which generation and why. */
  refused?: { at: string; generation?: number; reason: string };
  /** The last time it became the serving release (a deploy or a rollback that completed). */
  servedAt?: string;
}

export interface KeptRelease extends ReleaseRecord {
  id: string;
  directory: string;
}

interface StateFile {
  releases: Record<string, ReleaseRecord>;
}

/** 20261207195601: the UTC time of the deploy, as Capistrano names releases. */
function timestampId(now = new Date()): string {
  return now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** A build zdt can keep: a directory, or a tar archive of one (unpacked by the system's tar). */
export function buildKind(source: string): 'directory' | 'tarball' {
  let stats;
  try {
    stats = statSync(source);
  } catch {
    throw new UsageError(`deploy: expected a build directory or a tarball (.tar, .tar.gz, .tgz), received ${JSON.stringify(source)}: no such file or directory`);
  }
  if (stats.isDirectory()) return 'directory';
  if (stats.isFile() && /\.(tar|tar\.gz|tgz)$/.test(source)) return 'tarball';
  throw new UsageError(`deploy: expected a build directory or a tarball (.tar, .tar.gz, .tgz), received ${JSON.stringify(source)}`);
}

function unpack(tarball: string, into: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-xf', tarball, '-C', into], { stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited with code ${code}: ${errors.trim()}`))));
  });
}

export class ReleaseStore {
  readonly releasesDirectory: string;
  readonly currentLink: string;
  private readonly stateFile: string;

  constructor(readonly base: string) {
    this.releasesDirectory = path.join(base, 'releases');
    this.currentLink = path.join(base, 'current');
    this.stateFile = path.join(base, 'zdt-releases.json');
  }

  directoryOf(id: string): string {
    return path.join(this.releasesDirectory, id);
  }

  /** The id of a directory inside releases/ (resolved), else undefined. */
  idOf(directory: string): string | undefined {
    const relative = path.relative(this.releasesDirectory, directory);
    return relative !== '' && !relative.includes(path.sep) && !relative.startsWith('.') ? relative : undefined;
  }

  private readState(): StateFile {
    try {
      const parsed = JSON.parse(readFileSync(this.stateFile, 'utf8')) as StateFile;
      return { releases: parsed.releases ?? {} };
    } catch {
      return { releases: {} };
    }
  }

  /** Merges `record` into release `id`'s entry; written to a temporary name and renamed. */
  record(id: string, record: ReleaseRecord): void {
    const state = this.readState();
    state.releases[id] = { ...state.releases[id], ...record };
    const temporary = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(temporary, this.stateFile);
  }

  /** Every kept release, oldest first (ids are deploy times; a second deploy in the same second gets -2, -3...). */
  list(): KeptRelease[] {
    if (!existsSync(this.releasesDirectory)) return [];
    const state = this.readState();
    const order = (id: string) => {
      const [stamp, suffix] = id.split('-');
      return [stamp ?? id, Number(suffix ?? 1)] as const;
    };
    return readdirSync(this.releasesDirectory, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .sort((a, b) => {
        const [stampA, numberA] = order(a);
        const [stampB, numberB] = order(b);
        return stampA < stampB ? -1 : stampA > stampB ? 1 : numberA - numberB;
      })
      .map((id) => ({ id, directory: this.directoryOf(id), ...state.releases[id] }));
  }

  /** The release `current` points at; undefined when there is no link or it points elsewhere. */
  current(): string | undefined {
    try {
      return this.idOf(path.resolve(this.base, readlinkSync(this.currentLink)));
    } catch {
      return undefined;
    }
  }

  /**
   * Copies (or unpacks) `source` into a new release and, when `install` is given, runs it there; only then is the
   * release renamed into releases/. Resolves with its id.
   */
  async keep(source: string, install: ((directory: string) => Promise<void>) | undefined): Promise<string> {
    const kind = buildKind(source);
    mkdirSync(this.releasesDirectory, { recursive: true });
    let id = timestampId();
    for (let suffix = 2; existsSync(this.directoryOf(id)); suffix++) id = `${timestampId()}-${suffix}`;
    const partial = path.join(this.releasesDirectory, `.${id}.partial`);
    try {
      await mkdir(partial);
      if (kind === 'directory') await cp(source, partial, { recursive: true, verbatimSymlinks: true });
      else await unpack(source, partial);
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      throw new DeployFailedError(source, (error as Error).message, { cause: error });
    }
    try {
      await install?.(partial);
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      throw error;
    }
    renameSync(partial, this.directoryOf(id));
    this.record(id, { deployedAt: new Date().toISOString(), source: path.resolve(source) });
    return id;
  }

  /** Points `current` at release `id` in one rename: a reader sees the old link or the new one, never none. */
  switchTo(id: string): void {
    if (!existsSync(this.directoryOf(id))) throw new UsageError(`no release ${JSON.stringify(id)} in ${this.releasesDirectory}`);
    const temporary = path.join(this.base, `.current.${process.pid}.tmp`);
    rmSync(temporary, { force: true });
    symlinkSync(path.join('releases', id), temporary);
    renameSync(temporary, this.currentLink);
  }

  /** Removes the oldest releases beyond `keep`, never one of `protect` (the serving and current ones). */
  prune(keep: number, protect: ReadonlyArray<string | undefined>): string[] {
    const releases = this.list();
    const removed: string[] = [];
    for (const release of releases.slice(0, Math.max(0, releases.length - keep))) {
      if (protect.includes(release.id)) continue;
      rmSync(release.directory, { recursive: true, force: true });
      removed.push(release.id);
    }
    return removed;
  }
}
