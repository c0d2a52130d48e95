// A hand-written SVG chart: one panel per system, requests/s served (line) and
// failed requests per 100 ms (red bars) over time, rollouts shaded. Every panel
// shares the same y axes so the systems can be compared at a glance.
import { BUCKET_MS } from '@zero-downtime/testkit';

export const escape = (text) =>
  String(text).replace(/[&<>"]/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[character]);

/** The round number at or above `value` an axis ends at; `steps` are the mantissas it may take. */
export function niceCeiling(value, steps = [1, 2, 2.5, 5, 10]) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of steps) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/**
 * panels: [{ title, subtitle, series: [{ ok, failed }] per 100 ms, windows: [[fromMs, toMs]] }]
 */
export function rolloutChart(panels, { title = 'Requests across rolling restarts', shading = 'a rollout in progress' } = {}) {
  const width = 960;
  const left = 70;
  const right = 70;
  const panelHeight = 150;
  const gap = 50;
  const top = 70;
  const plotWidth = width - left - right;
  const height = top + panels.length * (panelHeight + gap) + 30;
  const maxRate = niceCeiling(Math.max(1, ...panels.flatMap((panel) => panel.series.map((slot) => slot.ok * (1000 / BUCKET_MS)))));
  const maxFailed = niceCeiling(Math.max(1, ...panels.flatMap((panel) => panel.series.map((slot) => slot.failed))));
  const parts = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${left}" y="28" font-size="18" font-weight="bold">${escape(title)}</text>`,
    `<text x="${left}" y="48" fill="#444">blue: requests/s served (left axis) · red bars: failed requests per 100 ms (right axis) · grey: ${escape(shading)}</text>`,
  );
  panels.forEach((panel, index) => {
    const y0 = top + index * (panelHeight + gap) + 20;
    const yBottom = y0 + panelHeight;
    // Each panel spans its own run (a Nest rollout takes longer than a node:http one); the y axes are shared.
    const buckets = Math.max(1, panel.series.length);
    const seconds = (buckets * BUCKET_MS) / 1000;
    const x = (ms) => left + (ms / (buckets * BUCKET_MS)) * plotWidth;
    const rateY = (rate) => yBottom - (rate / maxRate) * panelHeight;
    const failedY = (count) => yBottom - (count / maxFailed) * panelHeight;
    parts.push(`<text x="${left}" y="${y0 - 8}" font-size="14" font-weight="bold">${escape(panel.title)}</text>`);
    if (panel.subtitle) parts.push(`<text x="${width - right}" y="${y0 - 8}" text-anchor="end" fill="#444">${escape(panel.subtitle)}</text>`);
    for (const [from, to] of panel.windows ?? []) {
      parts.push(`<rect x="${x(from).toFixed(1)}" y="${y0}" width="${Math.max(1, x(to) - x(from)).toFixed(1)}" height="${panelHeight}" fill="#d9d9d9" opacity="0.6"/>`);
    }
    parts.push(`<rect x="${left}" y="${y0}" width="${plotWidth}" height="${panelHeight}" fill="none" stroke="#888"/>`);
    for (const fraction of [0, 0.5, 1]) {
      const y = yBottom - fraction * panelHeight;
      parts.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${y}" y2="${y}" stroke="#eee"/>`);
      parts.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" fill="#1f5fbf">${Math.round(maxRate * fraction).toLocaleString('en-US')}</text>`);
      parts.push(`<text x="${left + plotWidth + 6}" y="${y + 4}" fill="#c62828">${Math.round(maxFailed * fraction).toLocaleString('en-US')}</text>`);
    }
    const barWidth = Math.max(1, plotWidth / buckets - 0.5);
    panel.series.forEach((slot, bucket) => {
      if (!slot.failed) return;
      const y = failedY(slot.failed);
      parts.push(`<rect x="${x(bucket * BUCKET_MS).toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(yBottom - y).toFixed(1)}" fill="#c62828"/>`);
    });
    const points = panel.series.map((slot, bucket) => `${x((bucket + 0.5) * BUCKET_MS).toFixed(1)},${rateY(slot.ok * (1000 / BUCKET_MS)).toFixed(1)}`);
    if (points.length) parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="#1f5fbf" stroke-width="1.5"/>`);
    const tickEvery = seconds > 20 ? 5 : seconds > 8 ? 2 : 1;
    for (let second = 0; second <= seconds; second += tickEvery) {
      parts.push(`<text x="${x(second * 1000)}" y="${yBottom + 14}" text-anchor="middle" fill="#666">${second}s</text>`);
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
