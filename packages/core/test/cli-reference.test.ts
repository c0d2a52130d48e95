/**
 * docs/reference/cli.md against the code: its exit-status table and control socket lookup order are the ones the
 * code renders (cli/exit-statuses.ts, cli/control-lookup.ts), every error code the table puts in a column is one the
 * catalog exits with that status for, and the lookup order is the one a real `zdt status` follows, step by step.
 */
import { describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { zdt } from '@zero-downtime/testkit';
import { testContext } from './helpers.js';
import { CONTROL_LOOKUP, renderControlLookup, type ControlSource } from '../src/cli/control-lookup.js';
import { EXIT_STATUSES, renderExitStatusTable } from '../src/cli/exit-statuses.js';

const context = testContext();
const reference = readFileSync(fileURLToPath(new URL('../../../docs/reference/cli.md', import.meta.url)), 'utf8');
const errorsReference = readFileSync(fileURLToPath(new URL('../../../docs/reference/errors.md', import.meta.url)), 'utf8');

function between(name: string): string {
  const start = reference.indexOf(`<!-- ${name}:start -->`);
  const end = reference.indexOf(`<!-- ${name}:end -->`);
  expect(start, `docs/reference/cli.md has <!-- ${name}:start --> and then <!-- ${name}:end -->`).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return reference.slice(start + `<!-- ${name}:start -->`.length, end).trim();
}

describe('docs/reference/cli.md', () => {
  it('holds the exit-status table the code renders (paste renderExitStatusTable() from cli/exit-statuses.ts)', () => {
    expect(between('exit-statuses')).toBe(renderExitStatusTable());
  });

  it('holds the lookup order the code renders (paste renderControlLookup(true) from cli/control-lookup.ts)', () => {
    expect(between('control-lookup')).toBe(`${renderControlLookup(true)}.`);
  });

  it('names in each exit-status column only error codes that exit with that status', () => {
    // errors.md gives each code's status; error-exit-status.test.ts checks it against the classes.
    const statusOf = new Map([...errorsReference.matchAll(/^\| `\w+Error` \| `(ERR_ZDT_\w+)` \| .* \| (\d?) \|$/gm)].map((row) => [row[1]!, Number(row[2] || 1)]));
    const named: string[] = [];
    for (const [command, meanings] of Object.entries(EXIT_STATUSES)) {
      for (const [status, text] of Object.entries(meanings)) {
        for (const [code] of text.matchAll(/ERR_ZDT_\w+/g)) {
          named.push(code);
          expect({ command, code, status: statusOf.get(code) }).toEqual({ command, code, status: Number(status) });
        }
      }
    }
    expect(named.length).toBeGreaterThan(10);
  });
});

const NOBODY = 65534;

/** A directory owned by `uid`, mode 0700, inside a 0755 one that every uid can traverse. */
function privateDirectory(uid: number, name: string): string {
  const parent = context.scratchDirectory();
  chmodSync(parent, 0o755);
  const directory = path.join(parent, name);
  mkdirSync(directory, { mode: 0o700 });
  chownSync(directory, uid, uid);
  return directory;
}

/**
 * For each step of the lookup order that applies to `uid`: with that step and every later one set up, `zdt status`
 * (nobody answers) names the socket of that step, so each step wins over every later one.
 */
async function walk(uid: number, steps: ControlSource[]): Promise<string[]> {
  const order = CONTROL_LOOKUP.map((step) => step.source).filter((source) => steps.includes(source));
  const reached: string[] = [];
  for (const [index, first] of order.entries()) {
    const present = new Set(order.slice(index));
    const base = privateDirectory(uid, 'home');
    const tmpdir = privateDirectory(uid, 'tmp');
    chmodSync(tmpdir, 0o755);
    const runtimeDirectory = privateDirectory(uid, 'runtime');
    const noConfig = privateDirectory(uid, 'empty');
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: tmpdir };
    const args = ['status', '--json'];
    if (present.has('flag')) args.push('--control', path.join(base, 'flag.sock'));
    if (present.has('file')) {
      writeFileSync(path.join(base, 'zdt.config.json'), JSON.stringify({ control: 'file.sock' }));
      chownSync(path.join(base, 'zdt.config.json'), uid, uid);
    }
    if (present.has('env')) env.ZDT_CONTROL = path.join(base, 'env.sock');
    if (present.has('runtime-directory')) env.XDG_RUNTIME_DIR = runtimeDirectory;
    const expected = {
      flag: path.join(base, 'flag.sock'),
      file: path.join(base, 'file.sock'),
      env: path.join(base, 'env.sock'),
      root: '/run/zdt/zdt.sock',
      'runtime-directory': path.join(runtimeDirectory, 'zdt.sock'),
      tmpdir: path.join(tmpdir, `zdt-${uid}`, 'zdt.sock'),
    }[first];
    const result = await zdt(args, { cwd: present.has('file') ? base : noConfig, env, replaceEnv: true, ...(uid === 0 ? {} : { uid }) });
    // Nobody listens on any of these: the error names the socket the lookup ended on.
    expect({ first, code: result.code, stderr: result.stderr }).toEqual({ first, code: expect.any(Number), stderr: expect.stringContaining(` ${expected}`) });
    expect(result.code).not.toBe(0);
    reached.push(first);
  }
  return reached;
}

describe('the control socket lookup order', () => {
  it('is the one zdt status follows, for root', async () => {
    expect(process.getuid?.()).toBe(0);
    expect(await walk(0, ['flag', 'file', 'env', 'root'])).toEqual(['flag', 'file', 'env', 'root']);
  });

  it('is the one zdt status follows, for another user', async () => {
    expect(await walk(NOBODY, ['flag', 'file', 'env', 'runtime-directory', 'tmpdir'])).toEqual(['flag', 'file', 'env', 'runtime-directory', 'tmpdir']);
  });
});
