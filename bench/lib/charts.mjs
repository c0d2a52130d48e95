// Every chart of a run, made from its results file alone (bench/chart.mjs makes them again from a committed file):
// requests/s and failures across the rolling restarts and the bad release, and the connection path's bars.
import { rolloutChart } from './chart.mjs';
import { connectionPathChart } from './path-chart.mjs';

/** [{ name, svg }] for the charts `results` has figures for; `caption` names the run. */
export function chartsOf(results, caption) {
  const { settings } = results;
  const charts = [];
  const measured = (rows) => (rows ?? []).filter((row) => !row.error);
  const rollouts = measured(results.rollouts);
  if (rollouts.length) {
    const panels = rollouts.map((row) => ({
      title: row.system,
      subtitle: `${row.failed.toLocaleString('en-US')} failed of ${row.sent.toLocaleString('en-US')} · rollout ${row.rolloutMeanMs} ms`,
      series: row.chart.series,
      windows: row.chart.windows,
    }));
    const title = `Requests/s and failures across ${settings.rollouts} rolling restarts (${settings.workers} workers, ${settings.clients} keep-alive clients)`;
    charts.push({ name: 'rollout', svg: rolloutChart(panels, { title }) });
  }
  const bad = measured(results.badRelease);
  if (bad.length) {
    const panels = bad.map((row) => ({
      title: row.system,
      subtitle: `${row.failed.toLocaleString('en-US')} failed of ${row.sent.toLocaleString('en-US')} · ${row.stayedUp ? 'stayed up' : `down ${(row.downMs / 1000).toFixed(1)} s`} · ${row.reported.split(',')[0]}`,
      series: row.chart.series,
      windows: row.chart.windows,
    }));
    const title = `Deploying a release that throws at boot (${settings.workers} workers, ${settings.clients} keep-alive clients)`;
    charts.push({ name: 'bad-release', svg: rolloutChart(panels, { title, shading: 'the reload command running' }) });
  }
  if (results.connectionPath) charts.push({ name: 'connection-path', svg: connectionPathChart(results.connectionPath, { caption }) });
  return charts;
}

/** `run of 2026-12-07T21:35:00Z, Node v20.20.2, 2 CPUs` */
export const captionOf = (results) => `run of ${results.startedAt.replace(/\.\d+Z$/, 'Z')}, Node ${results.settings.node}, ${results.settings.cpus} CPUs`;
