// Scenario 8's tables and targets: requests/s, p99 and balance for each client kind, the primaries' memory, and the
// verdicts of the issue that moved the primary off the connection path.
import { mb, ms } from '../lib/format.mjs';
import { CLIENT_KINDS } from '../lib/path-client.mjs';
import { describeRatio } from '../lib/stats.mjs';
import { PRIMARY_RSS_MAX_MB } from '../lib/targets.mjs';

const KIND_TITLES = { 'per-request': 'a new connection per request', 'keep-alive': 'keep-alive connections' };
const fixed = (value, digits) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const count = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a');
const percent = (value) => (Number.isFinite(value) ? `${Math.round(value * 100)}%` : 'n/a');
const signedMb = (bytes) => (Number.isFinite(bytes) ? `${bytes >= 0 ? '+' : ''}${(bytes / 1024 / 1024).toFixed(1)} MB` : 'n/a');

function kindTable(path, kind) {
  const labels = Object.fromEntries(path.setups.map((setup) => [setup.key, setup.key === 'alone' ? 'the app alone' : setup.label.split(' (')[0]]));
  const lines = [`### ${KIND_TITLES[kind]}`, ''];
  lines.push('| setup | requests/s (median, IQR) | compared with | requests/s ratio (median of paired runs, spread) | p99 (median, IQR) | p99 ratio | busiest worker\'s share of connections (median, max) | failed |');
  lines.push('| --- | ---: | --- | --- | ---: | --- | ---: | ---: |');
  for (const setup of path.setups) {
    const figures = setup[kind];
    const own = setup.key === setup.reference;
    const balance = setup.workers > 1 ? `${percent(figures.busiestShare.median)} (${percent(figures.busiestShare.max)})` : '';
    lines.push(
      `| ${setup.label} | ${count(figures.rps.median)} (${count(figures.rps.q1)}–${count(figures.rps.q3)}) | ${own ? '' : labels[setup.reference]} | ${own ? '' : describeRatio(figures.rpsRatio)} | ${ms(figures.p99.median)} (${ms(figures.p99.q1)}–${ms(figures.p99.q3)}) | ${own ? '' : `${fixed(figures.p99Ratio.median, 3)}x (IQR ${fixed(figures.p99Ratio.q1, 2)}–${fixed(figures.p99Ratio.q3, 2)})`} | ${balance} | ${figures.failed} |`,
    );
  }
  lines.push('');
  return lines;
}

function memoryTable(path) {
  const lines = ['### The primaries\' memory', ''];
  lines.push('| setup | primary RSS (median, min–max) | over the bare round-robin primary (median of paired rounds, min–max) | ratio (median, 95% CI) |');
  lines.push('| --- | ---: | ---: | --- |');
  for (const setup of path.setups) {
    const memory = setup.memory;
    if (!memory) continue;
    const over = memory.overReference;
    const overCell = over && setup.key !== 'bare-rr' ? `${signedMb(over.median)} (${signedMb(over.min)} to ${signedMb(over.max)})` : '';
    const ratioCell = memory.ratioToReference && setup.key !== 'bare-rr' ? `${fixed(memory.ratioToReference.median, 3)}x (${fixed(memory.ratioToReference.ciLow, 3)}–${fixed(memory.ratioToReference.ciHigh, 3)})` : '';
    lines.push(`| ${setup.label} | ${mb(memory.primaryRss.median)} (${mb(memory.primaryRss.min)}–${mb(memory.primaryRss.max)}) | ${overCell} | ${ratioCell} |`);
  }
  lines.push('', "PM2's primary is its daemon (God), which also keeps logs and metrics.", '');
  return lines;
}

export function connectionPathSection(results) {
  if (results.connectionPathError) return ['## 8. The connection path', '', `**error**: ${results.connectionPathError}`, ''];
  const path = results.connectionPath;
  if (!path) return [];
  const lines = [`## 8. The connection path: ${path.clients} clients, GET /ping, plain node:http app`, ''];
  for (const error of path.errors ?? []) lines.push(`**error**: ${error}`, '');
  for (const kind of CLIENT_KINDS) lines.push(...kindTable(path, kind));
  lines.push(...memoryTable(path));
  lines.push(
    `Every setup up at once and measured in turn (A B, then B A), ${path.rounds} runs of ${path.runMs} ms per setup and client kind, the whole set started ${path.sets === 1 ? 'once' : `${path.sets} times (fresh processes each time)`}, after a warm-up run. Each client has one request in flight; per request it opens a connection, sends \`connection: close\` and times from the connect to the whole answer. The app answers its pid: a setup's busiest worker's share of connections is the largest share of one pid in a run (a keep-alive run opens ${path.clients} connections). One worker is compared with the app alone, several workers with node's round-robin; each ratio is the median of the ratios of runs taken next to each other, with its spread.`,
    '',
  );
  return lines;
}

/** The connection path's verdicts, added to the targets table; the primary's RSS from here when the run has it. */
export function connectionPathChecks(results, checks) {
  const path = results.connectionPath;
  if (!path) return;
  const byKey = Object.fromEntries(path.setups.map((setup) => [setup.key, setup]));
  const one = byKey['zdt-1'];
  if (one && byKey.alone) {
    const figures = one['per-request'];
    checks.oneWorkerPath = {
      target: 'zdt --workers 1, a connection per request: >= 0.97x the app alone in requests/s, p99 within 1.10x',
      measured: `${fixed(figures.rpsRatio.median, 3)}x requests/s (95% CI ${fixed(figures.rpsRatio.ciLow, 3)}–${fixed(figures.rpsRatio.ciHigh, 3)}), p99 ${fixed(figures.p99Ratio.median, 3)}x`,
      met: figures.rpsRatio.median >= 0.97 && figures.p99Ratio.median <= 1.1,
    };
  }
  const several = path.setups.find((setup) => setup.key.startsWith('zdt-') && setup.workers > 1);
  if (several && byKey['bare-rr']) {
    const cells = CLIENT_KINDS.map((kind) => `${kind} ${fixed(several[kind].rpsRatio.median, 3)}x, busiest worker ${percent(several[kind].busiestShare.median)}`);
    checks.severalWorkersPath = {
      target: `zdt --workers ${several.workers}: requests/s >= node's round-robin, no worker over 60% of the connections (median of runs)`,
      measured: cells.join('; '),
      met: CLIENT_KINDS.every((kind) => several[kind].rpsRatio.median >= 1 && several[kind].busiestShare.median <= 0.6),
    };
    const over = several.memory?.overReference;
    if (over) {
      checks.primaryRss = {
        target: `primary RSS within ${PRIMARY_RSS_MAX_MB} MB of a bare cluster primary (same app and workers, median of ${over.n} paired rounds)`,
        measured: `${signedMb(over.median)} (${signedMb(over.min)} to ${signedMb(over.max)})`,
        met: over.median <= PRIMARY_RSS_MAX_MB * 1024 * 1024,
      };
    }
  }
}
