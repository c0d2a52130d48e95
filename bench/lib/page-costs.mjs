// The benchmarks page's sections on cost, from a results file: the cost per request (without a network and over
// it), the supervisor beside a bare primary, the connection path (scenario 8) and zdt upgrade.
import { FRAMEWORK_NAMES, ci, good, int, mbSigned, ms, reasonsOf, x3 } from './page-format.mjs';

const ratioCell = (summary, verdict) => (verdict && !verdict.decided ? `too noisy to decide (${ci(summary)})` : `${x3(summary.median)} (${ci(summary)})`);

/** `205 paired batches; NestJS 246`: the usual count and the exceptions. */
function counts(entries, unit) {
  const usual = entries.map((entry) => entry.n).sort((a, b) => entries.filter((e) => e.n === b).length - entries.filter((e) => e.n === a).length)[0];
  const others = entries.filter((entry) => entry.n !== usual).map((entry) => `${entry.name} ${entry.n}`);
  return `${usual} ${unit}${others.length ? `; ${others.join(', ')}` : ''}`;
}

function perRequestTable(results, lines) {
  const micro = good(results.micro).filter((row) => !row.same);
  const network = results.throughput?.frameworks ?? [];
  const names = [...new Set([...micro.map((row) => row.framework), ...network.map((entry) => entry.framework)])];
  if (!names.length) return;
  lines.push(`| zero-downtime beside the bare framework | ${names.map((name) => FRAMEWORK_NAMES[name] ?? name).join(' | ')} |`, `| --- | ${names.map(() => '---').join(' | ')} |`);
  if (micro.length) {
    const cells = names.map((name) => micro.find((row) => row.framework === name)).map((row) => (row ? ratioCell(row.ratio, row.verdict) : 'n/a'));
    const n = counts(micro.map((row) => ({ name: FRAMEWORK_NAMES[row.framework], n: row.ratio.n })), 'paired batches');
    lines.push(`| CPU per request, request path without a network (${n}) | ${cells.join(' | ')} |`);
  }
  if (network.length) {
    const cells = names.map((name) => network.find((entry) => entry.framework === name)).map((entry) => (entry ? ratioCell(entry.cpuRatioSpread, entry.cpuVerdict) : 'n/a'));
    const n = counts(network.map((entry) => ({ name: FRAMEWORK_NAMES[entry.framework], n: entry.cpuRatioSpread.n })), 'paired runs');
    lines.push(`| CPU per request over the network (${n}) | ${cells.join(' | ')} |`);
  }
  lines.push('');
}

function supervisorLine(results, lines) {
  const parts = [];
  const clusters = results.throughput?.clusters ?? [];
  const zdt = clusters.find((entry) => entry.key === 'zdt');
  if (zdt && clusters.some((entry) => entry.key === 'bare')) {
    parts.push(
      `Supervisor throughput against a bare \`node:cluster\` primary, ${results.settings.workers} workers, keep-alive: ${x3(zdt.rpsRatio.median)} requests per second (CPU per request ${x3(zdt.cpuRatio.median)}, 95% CI ${ci(zdt.cpuRatio)}, ${zdt.cpuRatio.n} runs)`,
    );
  }
  const pathZdt = results.connectionPath?.setups.find((setup) => setup.key.startsWith('zdt-') && setup.workers > 1);
  const over = pathZdt?.memory?.overReference;
  if (over) parts.push(`the primary's RSS ${mbSigned(over.median)} against the bare primary's (median of ${over.n} paired rounds, ${mbSigned(over.min)} to ${mbSigned(over.max)})`);
  else if (zdt) {
    const bare = clusters.find((entry) => entry.key === 'bare');
    if (bare) parts.push(`the primary's RSS ${mbSigned(zdt.memory.primaryRss - bare.memory.primaryRss)}`);
  }
  const overheads = good(results.rollouts)
    .map((row) => row.breakdown?.overheadPerWorkerMs)
    .filter(Number.isFinite);
  let line = parts.join('; ');
  if (line) line += '.';
  if (overheads.length) line += ` The supervisor's own time per replaced worker: ${Math.min(...overheads)} to ${Math.max(...overheads)} ms.`;
  if (line) lines.push(line.trim(), '');
}

export function costSection(results) {
  const lines = ['## Cost per request', ''];
  const floor = good(results.micro).find((row) => row.same);
  lines.push(
    `Same file and run. Each ratio is the median of paired runs with its 95% confidence interval${floor ? `; two identical processes measure ${x3(floor.ratio.median)} (${ci(floor.ratio)})` : ''}.`,
    '',
  );
  perRequestTable(results, lines);
  supervisorLine(results, lines);
  return lines.length > 4 ? lines : [];
}

const SHORT = { alone: 'the app alone', 'zdt-1': 'zdt, 1 worker', 'bare-rr': 'bare node:cluster, round-robin', 'bare-none': 'bare node:cluster, shared socket', pm2: 'PM2 cluster' };
const shortName = (setup) => SHORT[setup.key] ?? (setup.key.startsWith('zdt-') ? `zdt, ${setup.workers} workers` : setup.label);

function pathCells(setup, kind) {
  const figures = setup[kind];
  const own = setup.key === setup.reference;
  const share = setup.workers > 1 && Number.isFinite(figures.busiestShare.median) ? `${Math.round(figures.busiestShare.median * 100)}%` : '';
  return [int(figures.rps.median), own ? '' : `${x3(figures.rpsRatio.median)} (${ci(figures.rpsRatio)})`, ms(figures.p99.median), share];
}

export function connectionPathSection(results, chart) {
  const path = results.connectionPath;
  if (!path) return [];
  const lines = ['## The connection path', ''];
  lines.push(
    `Same file and run: ${path.clients} clients sending GET /ping to the plain node:http app, one request in flight each, on a new connection per request or on keep-alive connections; every setup up at once and measured in turn, ${path.rounds} runs of ${path.runMs} ms per setup and client kind, the whole set started ${path.sets === 1 ? 'once' : `${path.sets} times`}. Ratios: one worker against the app alone, ${results.settings.workers} workers against node's round-robin, each the median of paired runs with its 95% CI. The busiest worker's share is the largest share of the connections one worker took (median of runs). Why zdt's workers accept their own connections: [how connections reach the workers](explanation/connections.md).`,
    '',
    `![Requests/s through each connection path](${chart})`,
    '',
    '| setup | per request: requests/s | ratio | p99 | busiest worker | keep-alive: requests/s | ratio | p99 | busiest worker |',
    '| --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |',
  );
  for (const setup of path.setups) lines.push(`| ${shortName(setup)} | ${[...pathCells(setup, 'per-request'), ...pathCells(setup, 'keep-alive')].join(' | ')} |`);
  const memory = path.setups.filter((setup) => setup.memory).map((setup) => `${shortName(setup)}: ${(setup.memory.primaryRss.median / 1024 / 1024).toFixed(1)} MB`);
  lines.push('', `The primaries' RSS, median of ${path.rounds} rounds: ${memory.join('; ')} (PM2's is its daemon).`, '');
  return lines;
}

export function upgradeSection(results) {
  const rows = good(results.supervisorReplacement);
  const upgrade = rows.find((row) => row.key === 'replace-upgrade');
  const restart = rows.find((row) => row.key === 'replace-restart');
  if (!upgrade || !restart) return [];
  const failed = (row) => `${int(row.failed)} failed${row.failed ? ` (${reasonsOf(row.reasons)})` : ''}`;
  return [
    '## zdt upgrade',
    '',
    `Same file and run, ${results.settings.rollouts} times each: \`zdt upgrade\` with \`--listen\` sent ${int(upgrade.sent)} requests, ${failed(upgrade)}, ${upgrade.longestPauseMs ? `up to ${int(upgrade.longestPauseMs)} ms` : 'no pause'} without a successful request, ${int(upgrade.meanMs)} ms per upgrade on average; a stop and start as \`systemctl restart\` does it sent ${int(restart.sent)}, ${failed(restart)}, up to ${int(restart.longestPauseMs)} ms without a successful request.`,
    '',
  ];
}

/** The sections of the scripts `pnpm bench` runs when present (bench/canary.mjs, bench/sticky.mjs), as they printed them. */
export function hookSections(results) {
  const lines = [];
  for (const hook of results.hooks ?? []) {
    if (!hook.present || !hook.markdown.length) continue;
    const status = hook.error ? ` (it ended with ${hook.error})` : '';
    lines.push(`## ${hook.title ?? hook.name}`, '', `Same file and run, from \`bench/${hook.name}.mjs\`${status}:`, '', ...hook.markdown.map((line) => (line.startsWith('#') ? `##${line}` : line)), '');
  }
  return lines;
}


