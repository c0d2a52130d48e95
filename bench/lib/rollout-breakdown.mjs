// Where a rollout's time went, read from the supervisor's own events (`zdt start --log-format json` prints each
// with the supervisor's clock): booting the replacements, waiting for old workers to drain, and the rest, which is
// the supervisor's own overhead. No second process measures anything.

/** The JSON log records a `zdt start --log-format json` printed, with their time in ms. */
export function logRecords(lines) {
  const records = [];
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const record = JSON.parse(line);
      if (typeof record.time === 'string') records.push({ ...record, at: Date.parse(record.time) });
    } catch {
      // A line of the app's own output that happens to start with a brace.
    }
  }
  return records;
}

/** Total length of the union of intervals [from, to]. */
function unionLength(intervals) {
  const sorted = intervals.filter(([from, to]) => to > from).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [start, end] = [Number.NaN, Number.NaN];
  for (const [from, to] of sorted) {
    if (!(from <= end)) {
      if (end > start) total += end - start;
      [start, end] = [from, to];
    } else end = Math.max(end, to);
  }
  if (end > start) total += end - start;
  return total;
}

/** Length of the part of [from, to] inside some interval of `inside` and outside every interval of `outside`. */
function coveredExcept(from, to, inside, outside) {
  const clip = (intervals) => intervals.map(([a, b]) => [Math.max(a, from), Math.min(b, to)]).filter(([a, b]) => b > a);
  const within = clip(inside);
  const excluded = clip(outside);
  // |inside ∖ outside| = |inside ∪ outside| − |outside|
  return unionLength([...within, ...excluded]) - unionLength(excluded);
}

/**
 * The breakdown of the rollout of `generation`: its duration (supervisor's start to done), the sum and the union of
 * the replacements' fork-to-ready times, the time spent only waiting for old workers to drain (no replacement
 * booting), and what is left: the supervisor's own work, also per replaced worker. Undefined when the log lacks
 * the rollout's start or end.
 */
export function rolloutBreakdown(records, generation) {
  const started = records.find((record) => record.generation === generation && /^rollout of generation \d+ started/.test(record.msg));
  const done = records.find((record) => record.generation === generation && /^rollout of generation \d+ done/.test(record.msg));
  if (!started || !done) return undefined;
  const during = records.filter((record) => record.at >= started.at && record.at <= done.at);
  const forks = during.filter((record) => / forked \(pid /.test(record.msg) && record.generation === generation);
  const boots = forks.map((fork) => {
    const ready = during.find((record) => record.pid === fork.pid && / ready, generation /.test(record.msg));
    return [fork.at, ready ? ready.at : done.at];
  });
  const swaps = during.filter((record) => record.generation === generation && record.oldPid !== undefined && / -> /.test(record.msg));
  // An old worker is retired as soon as its replacement is ready (the swap is logged after the whole batch).
  const drains = swaps.map((swap) => {
    const ready = during.find((record) => record.pid === swap.newPid && / ready, generation /.test(record.msg));
    const exit = records.find((record) => record.pid === swap.oldPid && / after stop /.test(record.msg));
    return [ready ? ready.at : swap.at, exit ? exit.at : done.at];
  });
  const durationMs = done.at - started.at;
  const bootUnionMs = unionLength(boots);
  const drainWaitMs = coveredExcept(started.at, done.at, drains, boots);
  const overheadMs = durationMs - bootUnionMs - drainWaitMs;
  const replaced = swaps.length;
  return {
    durationMs,
    replaced,
    bootSumMs: boots.reduce((sum, [from, to]) => sum + (to - from), 0),
    bootUnionMs,
    drainMeanMs: drains.length ? drains.reduce((sum, [from, to]) => sum + (to - from), 0) / drains.length : 0,
    drainWaitMs,
    overheadMs,
    overheadPerWorkerMs: replaced ? overheadMs / replaced : Number.NaN,
  };
}
