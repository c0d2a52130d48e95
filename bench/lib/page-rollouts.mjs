// The benchmarks page's first section, from a results file: rolling restarts (requests and failures, latency during
// each rollout beside steady state), a release that throws at boot, and kill -9 of a worker.
import { failedCell, frameworkOf, good, int, ms, systemName } from './page-format.mjs';

function rolloutPart(results, lines) {
  const { settings } = results;
  lines.push('| system | requests sent | failed in 3 rolling restarts |'.replace('3', String(settings.rollouts)), '| --- | ---: | ---: |');
  for (const row of results.rollouts ?? []) lines.push(row.error ? `| ${systemName(row)} | error: ${row.error} | |` : `| ${systemName(row)} | ${int(row.sent)} | ${failedCell(row)} |`);
  lines.push('');
}

function latencyPart(results, lines) {
  const rows = good(results.rollouts).filter((row) => row.key === 'zdt-node-http' || row.key === 'bare' || row.key === 'pm2');
  if (!rows.length) return;
  const { settings } = results;
  lines.push(
    `Latency through the same rolling restarts (same file and run, the same clients), steady state beside each rollout: the median of the ${settings.rollouts} rollouts with their extremes. Every system's row is in the results file; \`pnpm bench\` prints them all.`,
    '',
    '| system | p50 steady | p50 during rollouts | p99 steady | p99 during rollouts | p99 during / steady |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const row of rows) {
    const each = row.duringEach ?? [row.during];
    const spread = (field) => {
      const values = each.map((entry) => entry[field]).filter(Number.isFinite).sort((a, b) => a - b);
      const median = values[Math.floor((values.length - 1) / 2)];
      return values.length ? `${ms(median)} (${ms(values[0])}–${ms(values.at(-1))})` : 'n/a';
    };
    const ratios = each.map((entry) => entry.p99 / row.steady.p99).filter(Number.isFinite).sort((a, b) => a - b);
    const ratio = ratios.length ? `${ratios[Math.floor((ratios.length - 1) / 2)].toFixed(2)}x (${ratios[0].toFixed(2)}–${ratios.at(-1).toFixed(2)}x)` : 'n/a';
    lines.push(`| ${systemName(row)} | ${ms(row.steady.p50)} | ${spread('p50')} | ${ms(row.steady.p99)} | ${spread('p99')} | ${ratio} |`);
  }
  lines.push('');
}

function badReleasePart(results, lines) {
  const rows = good(results.badRelease);
  if (!rows.length) return;
  const { settings } = results;
  lines.push('A release that throws at boot (same file and run):', '', '| system | failed | outcome |', '| --- | ---: | --- |');
  const outcome = (row) => {
    const exit = /exit (\d+)/.exec(row.reported)?.[1];
    const said =
      row.key === 'bare' ? 'no feedback (`kill -USR2` exit 0)' : row.key === 'pm2' ? `\`pm2 reload\` exit ${exit}` : `${row.reloadOk ? 'accepted' : 'refused'}, \`zdt reload\` exit ${exit}`;
    const up = row.stayedUp ? '' : `service down for ${(row.downMs / 1000).toFixed(1)} s, `;
    const left = row.workersAfter < settings.workers ? `, ${row.workersAfter} of ${settings.workers} workers left` : '';
    return `${up}${said}, ${row.oldWorkersLeft} of ${settings.workers} old workers serving${left}`;
  };
  const zdt = rows.filter((row) => row.key.startsWith('zdt-'));
  const alike = zdt.length > 1 && zdt.every((row) => row.failed === 0 && outcome(row) === outcome(zdt[0]));
  if (alike) lines.push(`| zero-downtime (${zdt.map(frameworkOf).join(', ')}) | 0 each | ${outcome(zdt[0])} |`);
  for (const row of rows) if (!alike || !row.key.startsWith('zdt-')) lines.push(`| ${systemName(row)} | ${int(row.failed)} of ${int(row.sent)} | ${outcome(row)} |`);
  lines.push('');
}

function killNinePart(results, lines) {
  const rows = good(results.killNine);
  if (!rows.length) return;
  const failed = rows.map((row) => row.failed);
  const each = rows.map((row) => `${row.key.startsWith('zdt-') ? `zdt ${frameworkOf(row)}` : row.key === 'bare' ? 'bare cluster' : 'PM2'} ${row.failed}`);
  const zdt = rows.filter((row) => row.key.startsWith('zdt-') && Number.isFinite(row.replacementMs));
  const fastest = zdt.reduce((best, row) => (best && best.replacementMs <= row.replacementMs ? best : row), undefined);
  const slowest = zdt.reduce((worst, row) => (worst && worst.replacementMs >= row.replacementMs ? worst : row), undefined);
  const ready = fastest ? `; zdt's replacement was ready in ${int(fastest.replacementMs)} ms (${frameworkOf(fastest)}) to ${int(slowest.replacementMs)} ms (${frameworkOf(slowest)})` : '';
  lines.push(
    `A worker killed with SIGKILL (same file and run): ${Math.min(...failed)} to ${Math.max(...failed)} requests in flight on it fail with every system (${each.join(', ')})${ready}.`,
    '',
  );
}

/** The lines of the rollout, bad release and kill -9 section. */
export function rolloutSection(results, source) {
  const { settings, loadAverage } = results;
  const lines = ['## Rolling restarts, a release that cannot boot, a crash', ''];
  lines.push(
    `Results file ${source}, Node.js ${settings.node}, ${settings.workers} workers, ${settings.clients} keep-alive clients sending GET and POST with verified echoes, load average ${loadAverage.atStart[0]} at the start and ${loadAverage.atEnd[0]} at the end. Each rollout row is ${settings.rollouts} rolling restarts.`,
    '',
  );
  rolloutPart(results, lines);
  latencyPart(results, lines);
  badReleasePart(results, lines);
  killNinePart(results, lines);
  return lines;
}
