// The cells every table of the bench writes alike.

export const mb = (bytes) => (bytes == null ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(1)} MB`);
export const ms = (value) => (value == null ? 'n/a' : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`);

/** `87 ECONNRESET, 2 socket hang up` */
export function countBy(reasons) {
  const entries = Object.entries(reasons);
  return entries.length ? entries.map(([reason, count]) => `${count} ${reason}`).join(', ') : '';
}

export const failedCell = (failed, reasons) => (failed === 0 ? '**0**' : `**${failed.toLocaleString('en-US')}** (${countBy(reasons)})`);

export const errorRow = (row) => `| ${row.system} | **error**: ${row.error.replace(/\|/g, '/')} |`;

/** The first line of an error, for a row of a table and the results file. */
export const firstLine = (error) => String(error?.message ?? error).split('\n')[0];
