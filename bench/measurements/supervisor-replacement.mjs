// Scenario 6: replacing the supervisor itself (a new zdt or Node.js). `zdt upgrade` with the sockets the supervisor
// owns (`--listen`), beside what a `systemctl restart` does (SIGTERM, wait for the exit, `zdt start` again), under
// the same load, the plain app with its one-line integration.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUCKET_MS, freePort, latencyIn, stopProcess, track, waitForExit, zdt, zdtStart } from '@zero-downtime/testkit';
import { apps } from '../lib/contenders.mjs';
import { errorRow, failedCell, ms } from '../lib/format.mjs';
import { makeScratch } from '../lib/systems.mjs';

/** The longest run of 100 ms buckets inside `windows` in which no request succeeded, in ms. */
function longestPauseMs(series, windows) {
  let longest = 0;
  for (const [from, to] of windows) {
    let run = 0;
    for (let bucket = Math.floor(from / BUCKET_MS); bucket <= Math.floor(to / BUCKET_MS) && bucket < series.length; bucket += 1) {
      run = series[bucket].ok === 0 ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
  }
  return longest * BUCKET_MS;
}

/** A supervisor of the plain app, started and asked for its pid through its control socket. */
function replaceableSupervisor(how, label, port, settings) {
  const scratch = makeScratch(`replace-${how}`);
  const control = path.join(scratch.dir, 'zdt.sock');
  const args = [apps['node:http'], '--workers', String(settings.workers), '--drain-timeout', `${settings.killTimeoutMs}ms`, '--control', control];
  if (how === 'upgrade') args.push('--listen', `127.0.0.1:${port}`);
  const env = { BENCH_ADAPTER: '1', PORT: String(port), BENCH_RELEASE_FILE: scratch.releaseFile, BENCH_EVENTS_FILE: scratch.eventsFile };
  return {
    scratch,
    control,
    async start() {
      const running = zdtStart(args, { what: label, cwd: scratch.dir, env });
      await running.waitForLine(/supervisor pid \d+ running/, 60_000);
      return running;
    },
    async pid() {
      const status = await zdt(['status', '--json', '--control', control]);
      const pid = JSON.parse(status.stdout).pid;
      track(pid, label);
      return pid;
    },
  };
}

export async function supervisorReplacement(how, { settings, loads, progress }) {
  const label = how === 'upgrade' ? 'zdt upgrade (--listen)' : 'stop and start (systemctl restart)';
  const port = await freePort();
  const supervisor = replaceableSupervisor(how, label, port, settings);
  progress(`[6] ${label}: starting`);
  let running = await supervisor.start();
  const load = loads.start({ port, durationMs: 120_000 });
  await sleep(settings.steadyMs);
  const steps = [];
  for (let index = 0; index < settings.rollouts; index += 1) {
    const before = await supervisor.pid();
    const from = load.now();
    const began = Date.now();
    let ok;
    if (how === 'upgrade') {
      const result = await zdt(['upgrade', '--control', supervisor.control], { cwd: supervisor.scratch.dir });
      ok = result.code === 0;
    } else {
      await stopProcess(running.pid, { signal: 'SIGTERM', graceMs: settings.killTimeoutMs + 5_000 });
      running = await supervisor.start();
      ok = true;
    }
    const durationMs = Date.now() - began;
    const to = load.now();
    ok &&= await waitForExit(before, settings.killTimeoutMs + 5_000);
    const after = await supervisor.pid();
    steps.push({ ok: ok && after !== before, durationMs, window: [from, to] });
    progress(`[6] ${label}: ${index + 1} ${ok ? 'ok' : 'FAILED'} in ${durationMs} ms, supervisor ${before} -> ${after}, failed so far: ${load.progress().failed}`);
    await sleep(settings.gapMs);
  }
  const result = await load.stop();
  const last = await supervisor.pid();
  await zdt(['stop', '--control', supervisor.control]);
  await waitForExit(last, settings.killTimeoutMs + 5_000);
  const windows = steps.map((step) => step.window);
  return {
    system: label,
    key: `replace-${how}`,
    sent: result.sent,
    failed: result.failed,
    reasons: result.failures,
    longestPauseMs: longestPauseMs(result.series, windows),
    meanMs: Math.round(steps.reduce((sum, step) => sum + step.durationMs, 0) / steps.length),
    allReplaced: steps.every((step) => step.ok),
    during: latencyIn(result, windows),
  };
}

export function supervisorReplacementSection(rows, settings) {
  const lines = [`## 6. Replacing the supervisor itself (a new zdt or Node.js), ${settings.rollouts} times`, ''];
  lines.push('| how | requests | failed (why) | longest pause | p50 / p99 during | time (mean) | supervisor replaced |');
  lines.push('| --- | ---: | --- | ---: | ---: | ---: | --- |');
  for (const row of rows) {
    if (row.error) {
      lines.push(errorRow(row));
      continue;
    }
    lines.push(
      `| ${row.system} | ${row.sent.toLocaleString('en-US')} | ${failedCell(row.failed, row.reasons)} | ${row.longestPauseMs} ms | ${ms(row.during.p50)} / ${ms(row.during.p99)} | ${row.meanMs} ms | ${row.allReplaced ? 'yes' : 'no'} |`,
    );
  }
  lines.push(
    '',
    'longest pause: the longest run of 100 ms buckets, while the supervisor was being replaced, in which no request succeeded. zdt upgrade hands the listening socket to the new supervisor; stop and start is what `systemctl restart` does: every worker drains, the port is closed, and a new `zdt start` binds it again.',
    '',
  );
  return lines;
}
