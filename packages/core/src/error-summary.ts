import type { ErrorSummary } from './protocol.js';

/** The fields of an error the primary needs to name a worker's failure, safe to send over IPC. */
export function summarizeError(error: unknown): ErrorSummary {
  if (!(error instanceof Error)) {
    return { name: 'Error', message: typeof error === 'string' ? error : safeString(error) };
  }
  const fields = error as Error & { code?: unknown; address?: unknown; port?: unknown };
  const summary: ErrorSummary = { name: error.name, message: error.message };
  if (typeof fields.code === 'string') summary.code = fields.code;
  if (typeof fields.address === 'string') summary.address = fields.address;
  if (typeof fields.port === 'number') summary.port = fields.port;
  return summary;
}

function safeString(value: unknown): string {
  try {
    return `non-error thrown: ${JSON.stringify(value)}`;
  } catch {
    return `non-error thrown: ${Object.prototype.toString.call(value)}`;
  }
}

/** `EADDRINUSE: listen EADDRINUSE: address already in use 127.0.0.1:3000`: the code first, the message after. */
export function describeError(summary: ErrorSummary): string {
  const prefix = summary.code ?? summary.name;
  const where =
    summary.address !== undefined && !summary.message.includes(`${summary.address}:${summary.port ?? ''}`)
      ? ` (${summary.address}${summary.port === undefined ? '' : `:${summary.port}`})`
      : '';
  return `${prefix}: ${summary.message}${where}`;
}
