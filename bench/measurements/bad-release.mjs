// Scenario 2: a release that throws at boot, deployed under load. Whether the service stayed up, what the reload
// command said, and how many old workers still serve.
import { setTimeout as sleep } from 'node:timers/promises';
import { BUCKET_MS, freePort, waitForHttp } from '@zero-downtime/testkit';
import { errorRow, failedCell } from '../lib/format.mjs';

/**
 * Milliseconds of 100 ms buckets in which requests failed and none succeeded: the
 * service was down. (A bucket with neither is a slow moment on a busy machine.)
 */
function downtimeMs(series) {
  let down = 0;
  for (const slot of series) if (slot.ok === 0 && slot.failed > 0) down += 1;
  return down * BUCKET_MS;
}

async function answering(port) {
  try {
    await waitForHttp(port, { timeoutMs: 1_000 });
    return true;
  } catch {
    return false;
  }
}

export async function badRelease(entry, { loads, progress }) {
  const port = await freePort();
  const system = entry.make(port);
  progress(`[2] ${entry.label}: starting, then deploying a release that throws at boot`);
  await system.start();
  const load = loads.start({ port, durationMs: 120_000 });
  await sleep(1_500);
  const before = system.workerPids();
  system.scratch.setRelease('bad');
  const from = load.now();
  const reload = await system.reload({ timeoutMs: 45_000 });
  const to = load.now();
  await sleep(2_000);
  const after = system.workerPids();
  const answeringAfter = await answering(port);
  const result = await load.stop();
  system.scratch.setRelease('good');
  await system.stop();
  const down = downtimeMs(result.series);
  progress(`[2] ${entry.label}: failed ${result.failed}, down ${down} ms, reported: ${reload.reported}`);
  return {
    system: entry.label,
    key: entry.key,
    sent: result.sent,
    failed: result.failed,
    reasons: result.failures,
    downMs: down,
    stayedUp: down === 0 && answeringAfter,
    answeringAfter,
    reloadOk: reload.ok,
    reported: reload.reported,
    reloadMs: Math.round(reload.durationMs),
    oldWorkersLeft: before.filter((pid) => after.includes(pid)).length,
    workersAfter: after.length,
    chart: { series: result.series, windows: [[from, to]] },
  };
}

export function badReleaseSection(rows, settings) {
  const lines = ['## 2. A release that throws at boot', ''];
  lines.push('| system | requests | failed (why) | service stayed up | what the reload command reported | old workers still serving |');
  lines.push('| --- | ---: | --- | --- | --- | ---: |');
  for (const row of rows) {
    if (row.error) {
      lines.push(errorRow(row));
      continue;
    }
    const up = row.stayedUp ? 'yes' : `no: no request served for ${(row.downMs / 1000).toFixed(1)} s${row.answeringAfter ? '' : ', down at the end'}`;
    lines.push(`| ${row.system} | ${row.sent.toLocaleString('en-US')} | ${failedCell(row.failed, row.reasons)} | ${up} | ${row.reported.replace(/\|/g, '/')} | ${row.oldWorkersLeft} of ${settings.workers} |`);
  }
  lines.push('');
  return lines;
}
