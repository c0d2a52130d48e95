// Rewrites the settings table of docs/reference/configuration.md (between its markers) from the settings table in
// packages/core/src/settings/table.ts, through the built package. `pnpm docs:reference` builds core first.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderSettingsTable } from '../packages/core/dist/index.js';

const file = fileURLToPath(new URL('../docs/reference/configuration.md', import.meta.url));
const START = '<!-- settings:start -->';
const END = '<!-- settings:end -->';
const text = readFileSync(file, 'utf8');
const start = text.indexOf(START);
const end = text.indexOf(END);
if (start < 0 || end < start) throw new Error(`${file}: expected ${START} and then ${END}`);
writeFileSync(file, `${text.slice(0, start + START.length)}\n${renderSettingsTable()}\n${text.slice(end)}`);
console.log(`${file}: settings table rewritten`);
