/**
 * A configuration file that no longer loads (a bad deploy of zdt.config.js) does not lock the operator out: the
 * client commands say so on stderr, find the control socket without it ($ZDT_CONTROL here, the default path
 * otherwise), and act on the supervisor started with that file. One that finds another app's supervisor there (the
 * broken file named its own socket in its `control` key) changes nothing and says to pass --control.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { isAlive, zdt, zdtStart } from '@zero-downtime/testkit';
import { fixture, testContext } from './helpers.js';

const context = testContext();

const BROKEN = "module.exports = {\n  entry: 'server.js',\n  workers: 2,,\n};\n";

describe('a client command with a configuration file that does not load', () => {
  it('finds the supervisor by $ZDT_CONTROL, says the file does not load, and still acts', async () => {
    const directory = context.scratchDirectory();
    const config = path.join(directory, 'zdt.config.js');
    writeFileSync(config, `module.exports = { entry: ${JSON.stringify(fixture('app.cjs'))}, workers: 1 };\n`);
    const env = { ZDT_CONTROL: path.join(directory, 'zdt.sock') };
    const running = zdtStart([], { cwd: directory, env });
    await running.waitForLine(/supervisor pid \d+ running/);
    writeFileSync(config, BROKEN);

    const status = await zdt(['status'], { cwd: directory, env });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stderr).toContain(`zdt: warning: ERR_ZDT_CONFIG: Invalid configuration ${config}: cannot be loaded: Unexpected token ','`);
    expect(status.stderr).toContain(`looking for the supervisor without that file, at ${env.ZDT_CONTROL} ($ZDT_CONTROL)`);
    expect(status.stdout).toContain(`, configuration: ${config}\n`);
    expect(status.stdout).toMatch(/supervisor pid \d+: running/);

    // The supervisor answers; a reload re-reads the file there and changes nothing.
    const reload = await zdt(['reload'], { cwd: directory, env });
    expect(reload.code).toBe(2);
    expect(reload.stderr).toMatch(/zdt: ERR_ZDT_CONFIG: Invalid configuration .*zdt\.config\.js: cannot be loaded/);

    const scale = await zdt(['scale', '2'], { cwd: directory, env });
    expect(scale.code, scale.stderr).toBe(0);
    expect(scale.stdout).toContain('scaled to 2 workers: added worker 2');
    expect(scale.stderr).toContain('zdt: warning: ERR_ZDT_CONFIG');

    const stop = await zdt(['stop'], { cwd: directory, env });
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout.trim().split('\n').at(-1)).toBe('stopped');
    expect(stop.stderr).toContain('zdt: warning: ERR_ZDT_CONFIG');
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });

  it("when the broken file named the control socket: another app's supervisor found without it is left alone", async () => {
    const directory = context.scratchDirectory();
    const config = path.join(directory, 'zdt.config.js');
    const named = path.join(directory, 'named.sock');
    writeFileSync(config, `module.exports = { entry: ${JSON.stringify(fixture('app.cjs'))}, workers: 1, control: 'named.sock' };\n`);
    const env = { ZDT_CONTROL: path.join(directory, 'zdt.sock') };
    const app = zdtStart([], { cwd: directory, env });
    await app.waitForLine(/supervisor pid \d+ running/);
    writeFileSync(config, BROKEN);

    // Nobody on $ZDT_CONTROL yet: exit 1, and the warning said where else to look.
    const nobody = await zdt(['stop'], { cwd: directory, env });
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain('if the file names another control socket in its "control" key, pass --control PATH');
    expect(nobody.stderr).toContain(`ERR_ZDT_CONTROL_UNAVAILABLE: No supervisor is listening on control socket ${env.ZDT_CONTROL}`);

    // Another app's supervisor on $ZDT_CONTROL, started without a configuration file.
    const other = zdtStart([fixture('app.cjs'), '--workers', '1'], { cwd: context.scratchDirectory(), env });
    await other.waitForLine(/supervisor pid \d+ running/);
    for (const command of [['stop'], ['reload'], ['scale', '2']]) {
      const refused = await zdt(command, { cwd: directory, env });
      expect(refused.code, command[0]).toBe(2);
      expect(refused.stderr).toContain(
        `zdt: ERR_ZDT_CONFIG: Invalid configuration ${config}: does not load, and the supervisor (pid ${other.pid}) on ${env.ZDT_CONTROL} runs no configuration file (the command line only), so it may be another app's: nothing was done; pass --control PATH to act on it`,
      );
    }
    const status = await zdt(['status', '--json'], { cwd: directory, env });
    expect(status.code).toBe(0);
    expect(status.stderr).toContain(`zdt: warning: the supervisor on ${env.ZDT_CONTROL} runs no configuration file (the command line only): it may be another app's`);
    expect(JSON.parse(status.stdout)).toMatchObject({ pid: other.pid, state: 'running', workersWanted: 1, lastRollout: null });
    expect(isAlive(other.pid!)).toBe(true);

    // --control reaches each one without reading the file.
    for (const [running, socket] of [[app, named], [other, env.ZDT_CONTROL]] as const) {
      const stop = await zdt(['stop', '--control', socket], { cwd: directory, env });
      expect(stop.stderr).toBe('');
      expect(stop.code).toBe(0);
      expect(await running.exited).toEqual({ code: 0, signal: null });
    }
  });
});
