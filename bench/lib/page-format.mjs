// The cells and names of the benchmarks page (docs/benchmarks.md), as a reader of the docs knows the systems.

/** As the docs name each framework, by the bench's name for it. */
export const FRAMEWORK_NAMES = { 'node:http': 'node:http', express: 'Express', fastify: 'Fastify', nest: 'NestJS' };
/** The framework of a zero-downtime row's key (`zdt-node-http-batch2` is node:http). */
const frameworkInKey = (key) => /^zdt-(.+?)(-batch\d+)?$/.exec(key)?.[1]?.replace('node-http', 'node:http');
export const int = (value) => Math.round(value).toLocaleString('en-US');
export const ms = (value) => (Number.isFinite(value) ? `${value < 10 ? value.toFixed(1) : int(value)} ms` : 'n/a');
export const mbSigned = (bytes) => `${bytes >= 0 ? '+' : ''}${(bytes / 1024 / 1024).toFixed(1)} MB`;
export const x3 = (value) => (Number.isFinite(value) ? `${value.toFixed(3)}x` : 'n/a');
export const ci = (summary) => `${summary.ciLow.toFixed(3)}–${summary.ciHigh.toFixed(3)}`;
export const reasonsOf = (reasons) =>
  Object.entries(reasons ?? {})
    .map(([reason, count]) => `${int(count)} ${reason}`)
    .join(', ');
export const failedCell = (row) => (row.failed === 0 ? '0' : `${int(row.failed)} (${reasonsOf(row.reasons)})`);

/** `zero-downtime + Express, batch 2`, `bare node:cluster (kill-first, worker.disconnect())`, `PM2 reload` */
export function systemName(row) {
  if (row.key === 'bare') return 'bare `node:cluster` (kill-first, `worker.disconnect()`)';
  if (row.key === 'pm2') return 'PM2 `reload`';
  const framework = frameworkInKey(row.key);
  const batch = /-batch(\d+)$/.exec(row.key)?.[1];
  return `zero-downtime + ${FRAMEWORK_NAMES[framework] ?? framework}${batch ? `, batch ${batch}` : ''}`;
}

export const frameworkOf = (row) => FRAMEWORK_NAMES[frameworkInKey(row.key)] ?? row.system;
export const good = (rows) => (rows ?? []).filter((row) => !row.error);

