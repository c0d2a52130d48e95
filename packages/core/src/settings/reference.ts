/**
 * The settings table as people read it: the options block of `zdt start --help` and the Markdown table of
 * docs/reference/configuration.md (`pnpm docs:reference` writes it; a test checks it matches).
 */
import { SETTINGS, type Setting } from './table.js';

/** Flags of `zdt start` that are not settings: which file, which app in it, help. */
export const START_COMMAND_FLAGS = [
  { usage: '--config FILE', description: 'the configuration file (zdt format or a PM2 ecosystem file)' },
  { usage: '--only NAME', description: 'the app to run from a PM2 ecosystem file with several' },
  { usage: '--env NAME', description: "use the app's env_NAME of a PM2 ecosystem file, as 'pm2 --env NAME'" },
  { usage: '-h, --help', description: 'show this help' },
] as const;

function flagUsage(entry: Setting): string {
  const flag = entry.flag!;
  if (flag.value === '') return `--${flag.name}, --no-${flag.name}`;
  return `--${flag.name} ${flag.value}`;
}

function sentence(text: string): string {
  return text.replace(/\.$/, '');
}

/** Wraps `text` to `width` columns, continuing lines at `indent`. */
export function wrap(text: string, indent: number, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

const HELP_COLUMN = 27;

/** One option of a help text: its usage, then its description wrapped at the column. */
function helpRow(usage: string, description: string): string {
  const head = `  ${usage}`;
  const body = wrap(description, HELP_COLUMN);
  return head.length < HELP_COLUMN ? `${head.padEnd(HELP_COLUMN)}${body}` : `${head}\n${' '.repeat(HELP_COLUMN)}${body}`;
}

function settingRow(entry: Setting): string {
  return helpRow(flagUsage(entry), `${sentence(entry.description)} (default: ${entry.default}${entry.flag!.repeatable ? '; repeatable' : ''})`);
}

/** The options block of `zdt start --help`: every setting with a flag, then the command's own flags. */
export function startHelpOptions(): string {
  const settings = SETTINGS.filter((entry) => entry.flag !== undefined).map(settingRow);
  return [...settings, ...START_COMMAND_FLAGS.map((flag) => helpRow(flag.usage, flag.description))].join('\n');
}

/** The options block of a command that reads some settings (`zdt deploy`): those settings' flags, from the table. */
export function settingsHelpOptions(keys: readonly string[], own: ReadonlyArray<{ usage: string; description: string }>): string {
  const settings = keys.map((key) => SETTINGS.find((entry) => entry.key === key)!).map(settingRow);
  return [...settings, ...own.map((flag) => helpRow(flag.usage, flag.description))].join('\n');
}

/** A Markdown table cell: code, with its pipes escaped; '-' when empty. */
const escape = (value: string) => value.replace(/\|/g, '\\|');
const cell = (value: string | undefined) => (value === undefined || value === '' ? '-' : `\`${escape(value)}\``);

/** The settings reference as a Markdown table. */
export function renderSettingsTable(): string {
  const header = '| setting (option) | flag | config key | PM2 field | env | default | applies on reload? | description |';
  const rule = '| --- | --- | --- | --- | --- | --- | --- | --- |';
  const rows = SETTINGS.map((entry) => {
    const flag = cell(entry.flag ? flagUsage(entry) : entry.commandLine);
    const cells = [cell(entry.option ?? entry.field), flag, cell(entry.key), cell(entry.pm2), cell(entry.env), escape(entry.default), entry.reload ? 'yes' : 'no, at start', escape(entry.description)];
    return `| ${cells.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}
