/**
 * docs/guides/migrating-from-pm2.md shows one app twice, as a PM2 ecosystem file and as a zdt.config.js. Read by
 * zdt's own loader, the two give the same settings, and the SIGKILL figure the guide gives is drain + cleanup + 1 s.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfiguration } from '../src/config.js';
import { DEFAULTS } from '../src/settings/defaults.js';
import { testContext } from './helpers.js';

const context = testContext();
const guide = readFileSync(fileURLToPath(new URL('../../../docs/guides/migrating-from-pm2.md', import.meta.url)), 'utf8');
const jsBlocks = [...guide.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);

describe('the migrating-from-PM2 guide', () => {
  it('its ecosystem file and its zdt.config.js give the same settings, and its SIGKILL figure is drain + cleanup + 1 s', async () => {
    const ecosystemBlock = jsBlocks.find((block) => block.includes('apps:'));
    const zdtBlock = jsBlocks.find((block) => block.includes('entry:'));
    expect(ecosystemBlock).toBeDefined();
    expect(zdtBlock).toBeDefined();
    const directory = context.scratchDirectory();
    writeFileSync(path.join(directory, 'ecosystem.config.js'), ecosystemBlock!);
    writeFileSync(path.join(directory, 'zdt.config.js'), zdtBlock!);
    const pm2 = await loadConfiguration(path.join(directory, 'ecosystem.config.js'), { only: 'api', envName: 'production' });
    const zdt = await loadConfiguration(path.join(directory, 'zdt.config.js'));
    const { name, ...fromPm2 } = pm2.settings;
    expect(name).toBe('api');
    expect(fromPm2).toEqual(zdt.settings);

    const drain = zdt.settings.drainTimeoutMs!;
    const kill = (drain + (zdt.settings.cleanupTimeoutMs ?? DEFAULTS.cleanupTimeoutMs) + 1_000) / 1_000;
    expect(guide).toContain(`\`kill_timeout: 16000\` is read as \`drainTimeout: '${drain / 1_000}s'\``);
    expect(guide).toContain(`drain + cleanup + 1 s: ${kill} s here`);
  });
});
