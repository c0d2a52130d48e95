/** The supervisor's logger: what one must offer (pino-compatible), the text and JSON loggers zdt brings, and silence. */
import { isObject } from './settings/parse.js';

/** pino-compatible: each method takes (message) or (object, message). */
export interface Logger {
  info(objectOrMessage: unknown, message?: string): void;
  warn(objectOrMessage: unknown, message?: string): void;
  error(objectOrMessage: unknown, message?: string): void;
  debug(objectOrMessage: unknown, message?: string): void;
}

export function isLogger(value: unknown): value is Logger {
  return (
    isPlainObjectOrInstance(value) &&
    ['info', 'warn', 'error', 'debug'].every((level) => typeof (value as Record<string, unknown>)[level] === 'function')
  );
}

function isPlainObjectOrInstance(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** Writes `zdt <level> <message> key=value…` lines to stderr; used when no logger is given. */
export function createConsoleLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const write = (level: string) => (objectOrMessage: unknown, message?: string) => {
    let text: string;
    if (typeof objectOrMessage === 'string') {
      text = objectOrMessage;
    } else {
      const fields = isObject(objectOrMessage)
        ? Object.entries(objectOrMessage)
            .filter(([, value]) => value !== undefined)
            .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
            .join(' ')
        : String(objectOrMessage);
      // Structured fields are for machine loggers; a human reads the message, which names what matters.
      text = message ?? fields;
    }
    stream.write(`zdt ${new Date().toISOString()} ${level.padEnd(5)} ${text}\n`);
  };
  return { info: write('info'), warn: write('warn'), error: write('error'), debug: () => {} };
}

/**
 * Writes one JSON object per line: `time` (ISO), `level`, `msg`, then the structured fields the supervisor passes
 * (workerId, pid, generation...). For log collectors that parse JSON (journald with a JSON parser, Loki, Datadog).
 */
export function createJsonLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const write = (level: string) => (objectOrMessage: unknown, message?: string) => {
    const fields = isObject(objectOrMessage) ? objectOrMessage : {};
    const msg = typeof objectOrMessage === 'string' ? objectOrMessage : (message ?? (isObject(objectOrMessage) ? '' : String(objectOrMessage)));
    const { time: _time, level: _level, msg: _msg, ...rest } = fields;
    let line: string;
    try {
      line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...rest });
    } catch {
      // A field that cannot be serialized (a cycle) must not lose the line.
      line = JSON.stringify({ time: new Date().toISOString(), level, msg });
    }
    stream.write(`${line}\n`);
  };
  return { info: write('info'), warn: write('warn'), error: write('error'), debug: () => {} };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

