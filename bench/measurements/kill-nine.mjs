// Scenario 3: kill -9 of a worker under load. How soon a replacement is ready, and what the killed worker took with it.
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, waitFor } from '@zero-downtime/testkit';
import { errorRow, failedCell, ms } from '../lib/format.mjs';

export async function killNine(entry, { loads, progress }) {
  const port = await freePort();
  const system = entry.make(port);
  progress(`[3] ${entry.label}: kill -9 of a worker under load`);
  await system.start();
  const load = loads.start({ port, durationMs: 120_000 });
  await sleep(1_500);
  const before = system.workerPids();
  const killedAt = Date.now();
  process.kill(before[0], 'SIGKILL');
  let replacementMs = null;
  try {
    const event = await waitFor(() => system.scratch.readyEvents().find((ready) => ready.at >= killedAt && !before.includes(ready.pid)), 'a replacement worker', {
      timeoutMs: 20_000,
      intervalMs: 5,
    });
    replacementMs = event.at - killedAt;
  } catch {
    replacementMs = null;
  }
  await sleep(1_500);
  const result = await load.stop();
  await system.stop();
  progress(`[3] ${entry.label}: replacement ready after ${replacementMs} ms, failed ${result.failed}`);
  return { system: entry.label, key: entry.key, sent: result.sent, failed: result.failed, reasons: result.failures, replacementMs };
}

export function killNineSection(rows) {
  const lines = ['## 3. kill -9 of a worker under load', ''];
  lines.push('| system | requests | failed (why) | replacement ready after |');
  lines.push('| --- | ---: | --- | ---: |');
  for (const row of rows) lines.push(row.error ? errorRow(row) : `| ${row.system} | ${row.sent.toLocaleString('en-US')} | ${failedCell(row.failed, row.reasons)} | ${ms(row.replacementMs)} |`);
  lines.push('', 'Requests in flight on the killed worker are lost with any supervisor: kill -9 gives the process no chance to drain.', '');
  return lines;
}
