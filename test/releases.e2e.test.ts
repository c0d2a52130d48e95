/**
 * The releases zdt keeps: `zdt deploy` copies a build into releases/<id>/, switches `current` and rolls the workers
 * onto it; a refused rollout switches `current` back and every worker runs the previous release's files again,
 * crash restarts included; `zdt releases` says what is kept and why a release was refused; `zdt rollback` rolls
 * back on purpose, start-first. Real workers, real files, the CLI as a user runs it.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killTracked, run, waitFor, zdt, zdtStart } from '@zero-downtime/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { releasesAnswering, writeBuild } from './lib/builds.js';

let directories: string[] = [];
afterEach(() => {
  killTracked();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

interface Status {
  workers: Array<{ id: number; pid: number; generation: number; state: string }>;
  release: string | null;
}

interface Listing {
  current: string | null;
  serving: string | null;
  releases: Array<{ id: string; refused?: { generation?: number; reason: string } }>;
}

function setUp() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'zdt-deploy-'));
  directories.push(root);
  const base = path.join(root, 'srv');
  const control = path.join(root, 'control.sock');
  const flags = ['--deploy-to', base, '--control', control];
  const deploy = async (release: string, brokenOnWorkers: number[] = [], extra: string[] = []) =>
    zdt(['deploy', writeBuild(path.join(root, 'builds', release), release, brokenOnWorkers), ...flags, ...extra], { cwd: root });
  const listing = async () => {
    const result = await zdt(['releases', '--json', ...flags], { cwd: root });
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Listing;
  };
  const status = async () => JSON.parse((await zdt(['status', '--json', '--control', control])).stdout) as Status;
  return { root, base, control, flags, deploy, listing, status };
}

async function started(setup: ReturnType<typeof setUp>) {
  const first = await setup.deploy('v1');
  expect(first.code, first.stderr).toBe(0);
  expect(first.stdout).toMatch(/no supervisor answers at .*: current -> releases\/\d{14}, nothing was rolled; 'zdt start' runs it/);
  // The entry is a path inside the release; the workers run what current points at.
  const running = zdtStart(['app.cjs', '--workers', '2', ...setup.flags], { cwd: setup.root });
  await running.waitForLine(/supervisor pid \d+ running/);
  return { running, port: running.port(), v1: (await setup.listing()).current! };
}

describe('zdt deploy keeps releases and a refused one never serves', () => {
  it('refused on worker 2 of 2 and on worker 1: exit 1, 0 of 50 requests reach it, a killed worker comes back on the previous release', async () => {
    const setup = setUp();
    const { running, port, v1 } = await started(setup);
    expect(await releasesAnswering(port, 10)).toEqual({ v1: 10 });

    for (const [release, brokenOn] of [['v2', 2], ['v3', 1]] as const) {
      const refused = await setup.deploy(release, [brokenOn]);
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`ERR_ZDT_ROLLOUT_FAILED: .*worker ${brokenOn} \\(pid \\d+\\) failed before it was ready: uncaught exception: Error: release ${release} cannot start worker ${brokenOn}`));
      expect(refused.stderr).toMatch(new RegExp(`generation \\d+ serves on all 2 workers; current points at release ${v1} again`));
      expect(readlinkSync(path.join(setup.base, 'current'))).toBe(path.join('releases', v1));
      expect(await releasesAnswering(port, 50)).toEqual({ v1: 50 });
    }

    // A crash restart forks the serving release's files, not what current pointed at during the refused rollouts.
    const before = await setup.status();
    const killed = before.workers.find((worker) => worker.id === 2)!.pid;
    process.kill(killed, 'SIGKILL');
    const after = await waitFor(async () => {
      const now = await setup.status();
      return now.workers.some((worker) => worker.id === 2 && worker.state === 'ready' && worker.pid !== killed) ? now : undefined;
    }, 'worker 2 back after SIGKILL');
    expect(after.release).toBe(path.join(setup.base, 'releases', v1));
    expect(await releasesAnswering(port, 50)).toEqual({ v1: 50 });

    const listing = await setup.listing();
    expect(listing.current).toBe(v1);
    expect(listing.serving).toBe(v1);
    expect(listing.releases.map((release) => release.refused?.reason ?? 'kept')).toEqual([
      'kept',
      expect.stringMatching(/^worker 2 \(pid \d+\) failed before it was ready: uncaught exception: Error: release v2 cannot start worker 2/),
      expect.stringMatching(/^worker 1 \(pid \d+\) failed before it was ready: uncaught exception: Error: release v3 cannot start worker 1/),
    ]);
    const text = await zdt(['releases', ...setup.flags], { cwd: setup.root });
    expect(text.stdout).toMatch(new RegExp(`^${v1} +serving, current; deployed `, 'm'));
    expect(text.stdout).toMatch(/refused by generation 1 at .*: worker 2 \(pid \d+\) failed before it was ready/);
    expect(text.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^3 release\\(s\\) kept in .*; current -> ${v1}; supervisor pid \\d+ serves release ${v1}$`));

    expect((await zdt(['stop', '--control', setup.control])).code).toBe(0);
    expect((await running.exited).code).toBe(0);
  });

  it('zdt rollback: to the release before, then to one named; a tarball build, an install command, keepReleases', async () => {
    const setup = setUp();
    const { running, port, v1 } = await started(setup);
    const good = await setup.deploy('v2', [], ['--install', 'echo installed > installed.txt']);
    expect(good.code, good.stderr).toBe(0);
    const v2 = (await setup.listing()).serving!;
    expect(good.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^deploy done: release ${v2} serves \\(generation 1 serves on every worker, 2 worker\\(s\\) replaced in \\d+ms\\), release ${v1} kept$`));
    expect(readFileSync(path.join(setup.base, 'releases', v2, 'installed.txt'), 'utf8')).toBe('installed\n');
    expect(await releasesAnswering(port, 20)).toEqual({ v2: 20 });

    // The install command fails: nothing kept, nothing switched.
    const failed = await setup.deploy('v3', [], ['--install', 'echo no registry >&2; exit 7']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/ERR_ZDT_INSTALL_FAILED: Deploy failed: the install command "echo no registry >&2; exit 7" exited with code 7: no registry; the release was removed, nothing was switched/);
    expect(readdirSync(path.join(setup.base, 'releases')).sort()).toEqual([v1, v2].sort());

    const back = await zdt(['rollback', '--control', setup.control]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^rollback done: release ${v1} serves \\(generation 2 serves on every worker, 2 worker\\(s\\) replaced in \\d+ms\\), release ${v2} kept$`));
    expect(back.stdout).toMatch(/worker 1: \d+ -> \d+, draining the old one \(1\/2\)/);
    expect(await releasesAnswering(port, 20)).toEqual({ v1: 20 });
    const forward = await zdt(['rollback', v2, '--control', setup.control]);
    expect(forward.code, forward.stderr).toBe(0);
    expect(await releasesAnswering(port, 20)).toEqual({ v2: 20 });
    const unknown = await zdt(['rollback', '19990101000000', '--control', setup.control]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/ERR_ZDT_USAGE: no release "19990101000000" in /);

    // A tarball of a build, and keepReleases 2: the oldest release goes, the serving one stays.
    const build = writeBuild(path.join(setup.root, 'builds', 'v4'), 'v4');
    const tarball = path.join(setup.root, 'v4.tar.gz');
    expect((await run('tar', ['-czf', tarball, '-C', build, '.'])).code).toBe(0);
    const packed = await zdt(['deploy', tarball, ...setup.flags, '--keep-releases', '2'], { cwd: setup.root });
    expect(packed.code, packed.stderr).toBe(0);
    expect(packed.stdout).toMatch(new RegExp(`removed release\\(s\\) ${v1}$`, 'm'));
    expect(await releasesAnswering(port, 20)).toEqual({ v4: 20 });
    expect(existsSync(path.join(setup.base, 'releases', v1))).toBe(false);
    expect((await setup.listing()).releases.map((release) => release.id)).toEqual([v2, (await setup.listing()).serving]);

    expect((await zdt(['stop', '--control', setup.control])).code).toBe(0);
    expect((await running.exited).code).toBe(0);
  });
});
