// Scenario 7: the per-request path without a network (bench/micro.mjs), the headline for overhead. Each framework
// alone beside the same framework with its integration, over in-memory connections, CPU time in short batches taken
// in turn, each side in a process of its own. First the method's noise floor: node:http alone on both sides.
import path from 'node:path';
import { run } from '@zero-downtime/testkit';
import { FRAMEWORKS } from '../lib/contenders.mjs';
import { describeRatio, describeValue, judgeRatio, pairedRatios, summarize } from '../lib/stats.mjs';
import { benchDir } from '../lib/systems.mjs';
import { MICRO_MAX_CI_WIDTH, OVERHEAD_TARGET } from '../lib/targets.mjs';

async function oneCase({ framework, same }, { settings, progress, mayExtend }) {
  const label = same ? `${framework} alone on both sides (noise floor)` : framework;
  const maxRounds = mayExtend() ? settings.microMaxRounds : settings.microRounds;
  progress(`[7] ${label}: per-request path without a network, ${settings.microRounds} to ${maxRounds} rounds`);
  const args = [path.join(benchDir, 'micro.mjs'), '--framework', framework, '--rounds', String(settings.microRounds), '--max-rounds', String(maxRounds), ...(same ? ['--same'] : [])];
  const result = await run(process.execPath, args, { cwd: benchDir, timeoutMs: 300_000 });
  if (result.code !== 0) {
    return { framework: label, error: (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ') || `exit ${result.code ?? result.signal}` };
  }
  const { batchSize, samples } = JSON.parse(result.stdout.trim().split('\n').pop());
  const ratio = summarize(pairedRatios(samples.bare, samples.adapted));
  const verdict = judgeRatio(ratio, { target: OVERHEAD_TARGET, maxWidth: MICRO_MAX_CI_WIDTH });
  progress(`[7] ${label}: ${describeRatio(ratio, verdict)}`);
  return { framework: label, same, batchSize, bare: summarize(samples.bare), adapted: summarize(samples.adapted), ratio, verdict, samples };
}

export async function requestPath(ctx) {
  const cases = [{ framework: 'node:http', same: true }, ...FRAMEWORKS.filter(ctx.integrationAvailable).map((framework) => ({ framework, same: false }))];
  const rows = [];
  for (const entry of cases) rows.push(await oneCase(entry, ctx));
  return rows;
}

export function requestPathSection(rows, settings) {
  const lines = ['## 7. The per-request path without a network (the headline for overhead)', ''];
  lines.push('| framework | alone: CPU per request | with zero-downtime | ratio (median of paired batches, spread) |');
  lines.push('| --- | ---: | ---: | --- |');
  for (const row of rows) {
    if (row.error) {
      lines.push(`| ${row.framework} | **error**: ${row.error.replace(/\|/g, '/')} | | |`);
      continue;
    }
    lines.push(`| ${row.framework} | ${describeValue(row.bare, 'µs', 2)} | ${describeValue(row.adapted, 'µs', 2)} | ${describeRatio(row.ratio, row.verdict)} |`);
  }
  lines.push(
    '',
    `\`bench/micro.mjs\`: GET /ping over in-memory connections (a pair of Duplex streams handed to each server's 'connection' event: node's real parser, IncomingMessage, ServerResponse and the framework's router; no network, nothing mocked), one batch per side per round (A B, then B A), each batch about 30 ms of CPU time counted by the side itself (\`process.cpuUsage()\`), 41 rounds from each pair of processes, at least ${settings.microRounds} rounds and then more pairs while the confidence interval is wider than ${MICRO_MAX_CI_WIDTH}, up to ${settings.microMaxRounds}${settings.extendWithinMs ? ` (more only within the first ${settings.extendWithinMs / 60_000} minutes of the run)` : ''}. Each side runs in a process of its own under \`node --single-threaded\` (no V8 helper thread adds its work to a batch), so what loading the worker side does to a whole process is in the figure. The first row runs the same bare server on both sides: the ratio two identical processes give. When the 95% confidence interval of the median is neither wholly at or under ${OVERHEAD_TARGET} nor wholly over it, and wider than ${MICRO_MAX_CI_WIDTH}, the run says "too noisy to decide" instead of a ratio.`,
    '',
  );
  return lines;
}
