// Measurements that live in scripts of their own, run when present: bench/canary.mjs (the canary's false-positive
// and detection rates) and bench/sticky.mjs (what sticky routing for Socket.IO costs per connection). Each is run as
// `node bench/NAME.mjs [--quick]`, bounded in time; its stderr is progress, its stdout the markdown of its section.
// A last stdout line that is a JSON object is its figures: they go to the results file, not to the table.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { killTree, startProcess } from '@zero-downtime/testkit';
import { benchDir } from '../lib/systems.mjs';

/** `fullTimeoutMs`: the bound of a full run (a run with --quick has settings.hookTimeoutMs). */
export const HOOKS = [
  { name: 'canary', file: 'canary.mjs', title: 'The canary: false positives and detection', fullTimeoutMs: 300_000 },
  { name: 'sticky', file: 'sticky.mjs', title: 'Sticky routing (Socket.IO): the cost per connection', fullTimeoutMs: 180_000 },
];

/** The JSON object on the last line of `lines`, if there is one, and the lines before it. */
function splitFigures(lines) {
  const trimmed = [...lines];
  while (trimmed.length && !trimmed.at(-1).trim()) trimmed.pop();
  const last = trimmed.at(-1)?.trim() ?? '';
  if (last.startsWith('{')) {
    try {
      return { figures: JSON.parse(last), markdown: trimmed.slice(0, -1) };
    } catch {
      // Not JSON after all: part of the markdown.
    }
  }
  return { figures: null, markdown: trimmed };
}

/** Runs one hook script: { name, present, code, durationMs, markdown, figures } or { name, present: false }. */
export async function runHook(hook, { settings, progress }) {
  const script = path.join(benchDir, hook.file);
  if (!existsSync(script)) {
    progress(`[${hook.name}] bench/${hook.file} is not there: skipped`);
    return { name: hook.name, title: hook.title, present: false };
  }
  const timeoutMs = settings.quick ? settings.hookTimeoutMs : hook.fullTimeoutMs;
  progress(`[${hook.name}] node bench/${hook.file}${settings.quick ? ' --quick' : ''}, at most ${timeoutMs / 1000} s`);
  const stdout = [];
  const began = Date.now();
  const child = startProcess(process.execPath, [script, ...(settings.quick ? ['--quick'] : [])], {
    cwd: benchDir,
    what: `bench/${hook.file}`,
    onLine(line, stream) {
      if (stream === 'stdout') stdout.push(line);
      else progress(line.startsWith(`[${hook.name}]`) ? line : `[${hook.name}] ${line}`);
    },
  });
  // Lines can still come after 'exit'; after 'close' none will.
  const closed = new Promise((resolve) => child.child.once('close', resolve));
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') killTree(child.pid, 'SIGKILL');
  await closed;
  const { figures, markdown } = splitFigures(stdout);
  const code = outcome === 'timeout' ? null : outcome.code;
  const error = outcome === 'timeout' ? `stopped after ${timeoutMs / 1000} s` : code === 0 ? undefined : `exit ${code ?? outcome.signal}`;
  if (error) progress(`[${hook.name}] ERROR ${error}`);
  return { name: hook.name, title: hook.title, present: true, code, error, durationMs: Date.now() - began, markdown, figures };
}

export function hookSection(result) {
  const hook = HOOKS.find((entry) => entry.name === result.name);
  if (!result.present) return [];
  const lines = [`## ${hook.title} (bench/${hook.file})`, ''];
  if (result.error) lines.push(`**error**: bench/${hook.file} ${result.error}`, '');
  // A script's own headings sit under this one.
  if (result.markdown.length) lines.push(...result.markdown.map((line) => (line.startsWith('#') ? `##${line}` : line)), '');
  return lines;
}
