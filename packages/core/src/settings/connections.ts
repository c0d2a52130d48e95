/**
 * Where the workers' connections come from: the sockets the supervisor owns (`listen`), and sticky routing (`sticky`,
 * primary/sticky/), which binds the app's own port instead and so refuses `listen` beside it.
 */
import { InvalidOptionError } from '../errors.js';
import { parseListenSpec, type ListenOption } from '../primary/sockets/listeners.js';
import { InvalidValue, isObject, oneOf } from './parse.js';

export type StickyMode = 'sid' | 'ip';

export const readSticky = oneOf<StickyMode>('sid', 'ip');

function resolveListen(value: unknown, cwd: string): ListenOption[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidOptionError('listen', 'an array of addresses or { fd, origin } objects', value);
  return value.map((item: unknown, index): ListenOption => {
    if (typeof item === 'string') return parseListenSpec(item, cwd, `listen[${index}]`).text;
    const descriptor = item as { fd?: unknown; origin?: unknown; path?: unknown };
    if (
      isObject(item) &&
      typeof descriptor.fd === 'number' &&
      Number.isInteger(descriptor.fd) &&
      descriptor.fd >= 0 &&
      (descriptor.origin === 'systemd' || descriptor.origin === 'inherited') &&
      (descriptor.path === undefined || typeof descriptor.path === 'string')
    ) {
      return { fd: descriptor.fd, origin: descriptor.origin, ...(descriptor.path === undefined ? {} : { path: descriptor.path }) };
    }
    throw new InvalidOptionError(`listen[${index}]`, `an address (${'PORT, HOST:PORT or unix:PATH'}) or { fd, origin: 'systemd' | 'inherited' }`, item);
  });
}

/** Sticky routing binds the app's own port: with `listen` the workers would accept on the socket themselves. */
function resolveSticky(value: unknown, listen: readonly ListenOption[]): StickyMode | undefined {
  if (value === undefined) return undefined;
  let sticky: StickyMode;
  try {
    sticky = readSticky(value);
  } catch (error) {
    if (error instanceof InvalidValue) throw new InvalidOptionError('sticky', error.expected, value);
    throw error;
  }
  if (listen.length > 0) throw new InvalidOptionError('sticky', 'sticky routing without listen (the supervisor binds the port the app listens on)', value);
  return sticky;
}

/** The `listen` and `sticky` options, resolved (a relative Unix socket path against `cwd`). */
export function resolveConnections(options: { listen?: unknown; sticky?: unknown }, cwd: string): { listen: ListenOption[]; sticky: StickyMode | undefined } {
  const listen = resolveListen(options.listen, cwd);
  return { listen, sticky: resolveSticky(options.sticky, listen) };
}
