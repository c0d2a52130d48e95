import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { zdt } from '@zero-downtime/testkit';
import { renderSettingsTable } from '../src/index.js';
import { SETTINGS } from '../src/settings/table.js';

/** The flags a help text names, in order of first appearance. */
function flagsIn(text: string): string[] {
  return [...new Set([...text.matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)].map((match) => match[1]!))];
}

describe('the settings table', () => {
  it("the package README's table of the most used flags gives each one's default from the table", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `--([a-z-]+)[^`]*` \| ([^|]+) \|/gm)];
    expect(rows.length).toBeGreaterThan(5);
    for (const [, flag, shown] of rows) {
      const setting = SETTINGS.find((entry) => entry.flag?.name === flag);
      expect([flag, shown!.replaceAll('`', '').trim()]).toEqual([flag, setting?.default]);
    }
  });

  it("zdt start --help lists exactly the table's flags, plus the command's own", async () => {
    const help = await zdt(['start', '--help']);
    expect(help.code).toBe(0);
    const options = help.stdout.slice(help.stdout.indexOf('Options:'), help.stdout.indexOf('\nDUR:'));
    const fromTable = SETTINGS.flatMap((setting) =>
      setting.flag === undefined ? [] : setting.flag.value === '' ? [setting.flag.name, `no-${setting.flag.name}`] : [setting.flag.name],
    );
    // Flags named inside a description (--env NAME, --no-auto-drain) are counted once, where they are set.
    const optionLines = options.split('\n').filter((line) => /^ {2}-/.test(line));
    expect(flagsIn(optionLines.join('\n')).sort()).toEqual([...fromTable, 'config', 'only', 'help'].sort());
  });

  it("zdt --help names no flag that is neither in the table nor a command's own", async () => {
    const help = await zdt(['--help']);
    expect(help.code).toBe(0);
    const known = new Set([...SETTINGS.flatMap((setting) => (setting.flag ? [setting.flag.name] : [])), 'config', 'help', 'json', 'node', 'timeout']);
    expect(flagsIn(help.stdout).filter((flag) => !known.has(flag))).toEqual([]);
  });

  it('docs/reference/configuration.md holds the table as rendered (pnpm docs:reference rewrites it)', () => {
    const file = fileURLToPath(new URL('../../../docs/reference/configuration.md', import.meta.url));
    const text = readFileSync(file, 'utf8');
    const start = text.indexOf('<!-- settings:start -->');
    const end = text.indexOf('<!-- settings:end -->');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    expect(text.slice(start + '<!-- settings:start -->'.length, end).trim()).toBe(renderSettingsTable());
  });
});
