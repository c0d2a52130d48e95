/**
 * What a `net.Server#listen()` call asks for, read from its arguments. Three wrappers of `listen()` in a worker read
 * them: the map onto the supervisor's sockets (listen-map.ts), sticky routing (sticky.ts) and the accept gate
 * (accept-gate.ts); they read them here, the same way.
 */

/** Where a `listen()` call asks to listen. */
export interface ListenRequest {
  /** TCP: the port (0: any), and the host when one is named. */
  port?: number;
  host?: string;
  /** A Unix socket or a Windows pipe: its path. */
  path?: string;
}

/** A port (and host), or a path; undefined for a handle, a descriptor or a bare `listen()`. */
export function requestedAddress(args: readonly unknown[]): ListenRequest | undefined {
  const [first, second] = args;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return { port: Number(first), host: typeof second === 'string' ? second : undefined };
  }
  if (typeof first === 'string') return { path: first };
  if (typeof first !== 'object' || first === null) return undefined;
  const options = first as { port?: unknown; host?: unknown; path?: unknown; fd?: unknown; handle?: unknown; _handle?: unknown };
  if (options.handle !== undefined || options._handle !== undefined || options.fd !== undefined) return undefined;
  if (typeof options.path === 'string') return { path: options.path };
  const port = typeof options.port === 'string' && /^\d+$/.test(options.port) ? Number(options.port) : options.port;
  if (typeof port !== 'number') return undefined;
  return { port, host: typeof options.host === 'string' ? options.host : undefined };
}

/** `listen({ exclusive: true })`: a socket of this process alone, which node:cluster does not share. */
export function isExclusiveListen(args: readonly unknown[]): boolean {
  const [first] = args;
  return typeof first === 'object' && first !== null && (first as { exclusive?: unknown }).exclusive === true;
}
