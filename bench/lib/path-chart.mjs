// The connection path's chart (scenario 8), a hand-written SVG: one panel per client kind, one bar per setup at its
// median requests/s with a whisker over the interquartile range, p99 and the busiest worker's share written beside it.
import { escape, niceCeiling } from './chart.mjs';
import { CLIENT_KINDS } from './path-client.mjs';

const TITLES = { 'per-request': 'A new connection per request', 'keep-alive': 'Keep-alive connections' };
const COLORS = { alone: '#7f7f7f', zdt: '#1f5fbf', bare: '#e69f00', pm2: '#8e44ad' };
const colorOf = (key) => COLORS[key.split('-')[0]] ?? '#444';

function panel(parts, setups, kind, y0, { left, plotWidth, row }) {
  const max = niceCeiling(Math.max(1, ...setups.map((setup) => setup[kind].rps.q3 || 0)), [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]);
  const x = (value) => left + (Math.max(0, value) / max) * plotWidth;
  parts.push(`<text x="16" y="${y0 - 10}" font-size="14" font-weight="bold">${escape(TITLES[kind])}</text>`);
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const gx = left + fraction * plotWidth;
    parts.push(`<line x1="${gx}" x2="${gx}" y1="${y0}" y2="${y0 + setups.length * row}" stroke="#eee"/>`);
    parts.push(`<text x="${gx}" y="${y0 + setups.length * row + 14}" text-anchor="middle" fill="#666">${Math.round(max * fraction).toLocaleString('en-US')}</text>`);
  }
  parts.push(`<text x="${left - 8}" y="${y0 + setups.length * row + 14}" text-anchor="end" fill="#666">requests/s</text>`);
  setups.forEach((setup, index) => {
    const figures = setup[kind];
    const top = y0 + index * row + 4;
    const middle = top + (row - 8) / 2;
    const median = figures.rps.median || 0;
    parts.push(`<text x="${left - 8}" y="${middle + 4}" text-anchor="end">${escape(setup.label.split(' (')[0].replace(/, \d+ workers$/, ''))}</text>`);
    parts.push(`<rect x="${left}" y="${top}" width="${(x(median) - left).toFixed(1)}" height="${row - 8}" fill="${colorOf(setup.key)}" opacity="0.85"/>`);
    parts.push(`<line x1="${x(figures.rps.q1).toFixed(1)}" x2="${x(figures.rps.q3).toFixed(1)}" y1="${middle}" y2="${middle}" stroke="#000" stroke-width="1.5"/>`);
    const share = setup.workers > 1 && Number.isFinite(figures.busiestShare.median) ? ` · busiest worker ${Math.round(figures.busiestShare.median * 100)}%` : '';
    const p99 = Number.isFinite(figures.p99.median) ? figures.p99.median.toFixed(1) : 'n/a';
    parts.push(`<text x="${(Math.max(x(median), x(figures.rps.q3)) + 6).toFixed(1)}" y="${middle + 4}" fill="#333">${Math.round(median).toLocaleString('en-US')}/s · p99 ${p99} ms${share}</text>`);
  });
}

/** The SVG for `connectionPath` (the results file's figures); `caption` names the run it comes from. */
export function connectionPathChart(connectionPath, { caption = '' } = {}) {
  const setups = connectionPath.setups;
  const width = 960;
  const left = 290;
  const plotWidth = 400;
  const row = 30;
  const panelHeight = setups.length * row + 50;
  const top = 78;
  const height = top + CLIENT_KINDS.length * panelHeight + 20;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="28" font-size="18" font-weight="bold">Requests/s through each connection path (${connectionPath.clients} clients, GET /ping)</text>`,
    `<text x="16" y="48" fill="#444">bar: median of ${connectionPath.rounds} runs of ${connectionPath.runMs} ms; whisker: interquartile range; p99 and the busiest worker's share of connections beside it</text>`,
    `<text x="16" y="64" fill="#444">${escape(caption)}</text>`,
  ];
  CLIENT_KINDS.forEach((kind, index) => panel(parts, setups, kind, top + 20 + index * panelHeight, { left, plotWidth, row }));
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
