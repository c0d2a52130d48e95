// The markdown of a run, from its results alone: a header line that says what ran and how busy the machine was,
// then each measurement's section, then the targets.
import { badReleaseSection } from '../measurements/bad-release.mjs';
import { connectionPathSection } from '../measurements/connection-path-table.mjs';
import { hookSection } from '../measurements/hooks.mjs';
import { killNineSection } from '../measurements/kill-nine.mjs';
import { requestPathSection } from '../measurements/request-path.mjs';
import { latencySection, rolloutSection } from '../measurements/rolling-restarts.mjs';
import { supervisorReplacementSection } from '../measurements/supervisor-replacement.mjs';
import { throughputSection } from '../measurements/throughput.mjs';
import { targetsSection } from './targets.mjs';

export function markdown(results) {
  const { settings } = results;
  const busy = results.loadAverage;
  const lines = ['# zero-downtime bench', ''];
  lines.push(
    `${settings.workers} workers, ${settings.clients} keep-alive clients (GET /ping and POST /echo in turn, echoed bodies verified), Node ${settings.node}, ${settings.cpus} CPUs, ${new Date().toISOString()}${settings.quick ? ', --quick' : ''}, load average ${busy.atStart[0]} at start and ${busy.atEnd[0]} at the end`,
    '',
  );
  if (!results.supervisorAvailable) lines.push('> The supervisor was not available in this build: its rows are missing, not faked.', '');
  if (results.rollouts) lines.push(...rolloutSection(results.rollouts, settings), ...latencySection(results.rollouts, settings));
  if (results.badRelease) lines.push(...badReleaseSection(results.badRelease, settings));
  if (results.killNine) lines.push(...killNineSection(results.killNine));
  if (results.supervisorReplacement) lines.push(...supervisorReplacementSection(results.supervisorReplacement, settings));
  lines.push(...throughputSection(results, settings));
  if (results.micro) lines.push(...requestPathSection(results.micro, settings));
  lines.push(...connectionPathSection(results));
  for (const hook of results.hooks ?? []) lines.push(...hookSection(hook));
  lines.push(...targetsSection(results.targets));
  return lines.join('\n');
}
