import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { zdt, zdtStart } from '@zero-downtime/testkit';
import { fixture, testContext } from './helpers.js';

const context = testContext();
const { scratchDirectory } = context;

describe("a configuration file's control key", () => {
  it('is where zdt status, reload and stop find the supervisor zdt start runs with it', async () => {
    const directory = scratchDirectory();
    // A control path no default or environment variable points to: only the file's key leads there.
    writeFileSync(path.join(directory, 'zdt.config.json'), JSON.stringify({ entry: fixture('app.cjs'), workers: 1, control: 'from-file.sock' }));
    const env = { ZDT_CONTROL: path.join(directory, 'elsewhere.sock') };
    const running = zdtStart([], { cwd: directory, env });
    await running.waitForLine(/supervisor pid \d+ running/);
    expect(running.output.join('\n')).toContain(`control socket ${path.join(directory, 'from-file.sock')}`);

    const status = await zdt(['status', '--json'], { cwd: directory, env });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'running', app: { config: path.join(directory, 'zdt.config.json') } });

    const reload = await zdt(['reload'], { cwd: directory, env });
    expect(reload.stderr).toBe('');
    expect(reload.code).toBe(0);
    expect(reload.stdout).toMatch(/reload done: generation 1 serves on every worker/);

    // --config names the file from another directory.
    const elsewhere = await zdt(['status', '--config', path.join(directory, 'zdt.config.json')], { env });
    expect(elsewhere.code).toBe(0);

    const stop = await zdt(['stop'], { cwd: directory, env });
    expect(stop.code).toBe(0);
    expect(await running.exited).toEqual({ code: 0, signal: null });
  });
});
