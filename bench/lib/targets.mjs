// What the bench holds each figure to, and the closing table of targets met: one verdict per figure, the number
// measured beside the target it is held to.
import { describeRatio } from './stats.mjs';

/** What CPU per request and requests/s must show for an integration to count as costing nothing. */
export const OVERHEAD_TARGET = 1.03;
/** Across processes over the network: a confidence interval wider than this cannot tell 3% apart. */
export const THROUGHPUT_MAX_CI_WIDTH = 0.06;
/** In one process: it must tell 3% apart. */
export const MICRO_MAX_CI_WIDTH = 0.03;
/** The supervisor's RSS over a bare node:cluster primary's, same app and workers. */
export const PRIMARY_RSS_MAX_MB = 5;

function rolloutChecks(results, checks) {
  const zdtRollouts = (results.rollouts ?? []).filter((row) => row.key.startsWith('zdt-'));
  const zdtBad = (results.badRelease ?? []).filter((row) => row.key.startsWith('zdt-'));
  const broken = [...zdtRollouts, ...zdtBad].filter((row) => row.error).length;
  if (zdtRollouts.length) {
    const failed = [...zdtRollouts, ...zdtBad].reduce((sum, row) => sum + (row.failed ?? 0), 0);
    checks.zeroFailed = {
      target: '0 failed requests in every rollout scenario, all adapters',
      measured: `${failed} failed${broken ? `, ${broken} runs broke` : ''}`,
      met: failed === 0 && broken === 0,
    };
    const perWorker = zdtRollouts.filter((row) => !row.error && row.breakdown).map((row) => `${row.system.replace('zero-downtime + ', '')} ${row.breakdown.overheadPerWorkerMs} ms`);
    checks.overhead = {
      target: "the supervisor's own time per replaced worker, reported in ms",
      measured: perWorker.join(', ') || 'n/a',
      met: perWorker.length === zdtRollouts.filter((row) => !row.error).length && perWorker.length > 0,
    };
  }
  if (zdtBad.length) {
    const ok = zdtBad.every((row) => row.stayedUp && !row.reloadOk);
    checks.badRelease = { target: 'bad release refused, old workers keep serving', measured: ok ? 'refused, stayed up' : 'see table 2', met: ok };
  }
}

function throughputChecks(throughput, checks) {
  if (throughput?.supervisorVsBare != null) {
    checks.throughput = {
      target: 'supervisor throughput >= 0.97x bare cluster',
      measured: `${throughput.supervisorVsBare}x requests/s (CPU per request ${throughput.supervisorVsBareCpu}x)`,
      met: throughput.supervisorVsBare >= 0.97,
    };
    const zdt = throughput.clusters.find((entry) => entry.key === 'zdt');
    const bare = throughput.clusters.find((entry) => entry.key === 'bare');
    const delta = (zdt.memory.primaryRss - bare.memory.primaryRss) / 1024 / 1024;
    checks.primaryRss = {
      target: `primary RSS within ${PRIMARY_RSS_MAX_MB} MB of a bare cluster primary`,
      measured: `${delta >= 0 ? '+' : ''}${delta.toFixed(1)} MB`,
      met: delta <= PRIMARY_RSS_MAX_MB,
    };
  }
  if (throughput?.frameworks.length) {
    const cells = throughput.frameworks.map((entry) => `${entry.framework} ${describeRatio(entry.cpuRatioSpread, entry.cpuVerdict)}`);
    checks.adapterCpu = {
      target: `CPU per request within ${OVERHEAD_TARGET}x of the bare framework (median of paired runs, decided)`,
      measured: cells.join('; '),
      met: throughput.frameworks.every((entry) => entry.cpuVerdict.decided && entry.cpuVerdict.met),
    };
  }
}

function microChecks(micro, checks) {
  if (!micro?.length) return;
  const measured = micro.filter((row) => !row.same);
  checks.micro = {
    target: `per-request path without a network within ${OVERHEAD_TARGET}x (median of paired batches, decided)`,
    measured: measured.map((row) => (row.error ? `${row.framework} error` : `${row.framework} ${describeRatio(row.ratio, row.verdict)}`)).join('; '),
    met: measured.every((row) => !row.error && row.verdict.decided && row.verdict.met),
  };
}

/** `extra` adds the checks of measurements that keep their own (scenario 8). */
export function targets(results, extra = []) {
  const checks = {};
  rolloutChecks(results, checks);
  throughputChecks(results.throughput, checks);
  microChecks(results.micro, checks);
  for (const add of extra) add(results, checks);
  return { checks };
}

export function targetsSection(targetResults) {
  if (!targetResults || !Object.keys(targetResults.checks).length) return [];
  const lines = ['## Targets', '', '| target | measured | met |', '| --- | --- | --- |'];
  for (const check of Object.values(targetResults.checks)) lines.push(`| ${check.target} | ${check.measured} | ${check.met ? 'yes' : '**no**'} |`);
  lines.push('');
  return lines;
}
