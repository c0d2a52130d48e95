/**
 * Every read of node's private state the drain relies on, in one place. Each one has a fallback: when a field is
 * missing (another Node major), the drain loses precision, not correctness. `pnpm test:matrix` runs the suite on
 * Node 20, 22 and 24, which is where a move of one of these shows.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';

/**
 * What node keeps on an http connection's socket, read only once a drain has started: nothing is recorded per
 * request before that. Both fields have been there since long before Node 18 (node's own `closeIdleConnections()`
 * reads `_httpMessage`).
 */
export interface HttpSocket extends Socket {
  /** The response being written on this connection (the first of a pipeline); unset between requests. */
  _httpMessage?: ServerResponse | null;
  /** The connection's HTTP parser (`incoming`: the request it last parsed); null once upgraded (WebSocket, CONNECT). */
  parser?: { incoming?: IncomingMessage | null } | null;
}

/** A node internal list of a server's HTTP connections by parser (`active()`: a request is being received). */
export interface ConnectionsList {
  active(): Array<{ socket?: Socket }>;
  all(): Array<{ socket?: Socket }>;
}

/** An object's own value behind one of node's internal symbols (found by description; undefined when absent). */
function internal<T>(object: object, description: string): T | undefined {
  const key = Object.getOwnPropertySymbols(object).find((symbol) => symbol.description === description);
  return key ? (object as Record<symbol, T | undefined>)[key] : undefined;
}

/**
 * node's own http close clears the interval that checks request timeouts; the drain replaces close(), so it clears
 * it too, or every closed server stays referenced by its timer (when absent, nothing to clear).
 */
export function clearConnectionsCheck(server: object): void {
  const interval = internal<NodeJS.Timeout>(server, 'http.server.connectionsCheckingInterval');
  if (interval) clearInterval(interval);
}

/** node's list of an http server's connections (Node 18.2+), or undefined. */
export function connectionsList(server: object): ConnectionsList | undefined {
  const list = internal<ConnectionsList>(server, 'http.server.connections');
  return list && typeof list.active === 'function' && typeof list.all === 'function' ? list : undefined;
}

/** node frees a connection's parser when it hands the socket to an 'upgrade' (or 'connect') listener. */
export function isUpgraded(socket: HttpSocket): boolean {
  return socket.parser === null;
}

/** The header block a response wrote (`writeHead(status, headers)` keeps its headers nowhere else). */
export function sentHeaderBlock(response: ServerResponse): string | undefined {
  const sent = (response as ServerResponse & { _header?: unknown })._header;
  return typeof sent === 'string' ? sent : undefined;
}

/**
 * True when node will end the connection after this response: its header block said `Connection: close` (node sets
 * `_last` as it writes the headers, for its own decision, the app's header or the client's request alike).
 */
export function endsConnection(response: ServerResponse): boolean {
  return response.headersSent && (response as ServerResponse & { _last?: boolean })._last === true;
}

/** Streams open on an HTTP/2 session, from node's own session state (none when it cannot be read). */
export function openStreams(session: ServerHttp2Session): ServerHttp2Stream[] {
  const state = internal<{ streams?: Map<unknown, ServerHttp2Stream> }>(session, 'state');
  // node's own SafeMap: a Map by behaviour, not by instanceof.
  const streams = state?.streams;
  return typeof streams?.values === 'function' ? [...streams.values()] : [];
}

/** The headers an HTTP/2 stream answered with. */
export function sentHeaders(stream: ServerHttp2Stream): Record<string, unknown> | undefined {
  return (stream as ServerHttp2Stream & { sentHeaders?: Record<string, unknown> }).sentHeaders;
}
