/**
 * What sticky routing reads of a connection before handing it over: the HTTP request line, enough for engine.io's
 * session id (`GET /socket.io/?EIO=4&transport=polling&sid=XYZ HTTP/1.1`). Nothing past the line is parsed.
 */

/** Read at most this much looking for the end of the request line; a longer line is routed as a new session. */
export const MAX_REQUEST_LINE_BYTES = 8 * 1024;

const LINE_FEED = 0x0a;

/** A TLS record of type handshake (22) opens the connection: a ClientHello, no request line to read. */
const TLS_HANDSHAKE = 0x16;

/**
 * True when the connection starts with TLS (an https or h2 server behind the sticky port): an HTTP request starts with
 * a method's letters, a TLS connection with a handshake record, whose encrypted request line cannot be read.
 */
export function startsWithTls(head: Buffer): boolean {
  return head.length > 0 && head[0] === TLS_HANDSHAKE;
}

/** True once `head` holds the whole request line (or as much as will ever be read for it: none, under TLS). */
export function requestLineComplete(head: Buffer): boolean {
  return startsWithTls(head) || head.includes(LINE_FEED) || head.length >= MAX_REQUEST_LINE_BYTES;
}

/** The worker pid a session id starts with (`manageSocketIo()` prefixes `<pid in base 36>.`), when it has one. */
export function pidOfSession(sid: string): number | undefined {
  const dot = sid.indexOf('.');
  if (dot < 1 || dot > 8) return undefined;
  const pid = Number.parseInt(sid.slice(0, dot), 36);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** engine.io's session id from the request line's query string (`sid=`), undefined when it names none. */
export function sessionIdOf(head: Buffer): string | undefined {
  const end = head.indexOf(LINE_FEED);
  const line = head.subarray(0, end === -1 ? Math.min(head.length, MAX_REQUEST_LINE_BYTES) : end).toString('latin1');
  const target = line.split(' ')[1];
  const query = target?.indexOf('?') ?? -1;
  if (target === undefined || query === -1) return undefined;
  const sid = new URLSearchParams(target.slice(query + 1)).get('sid');
  return sid === null || sid === '' ? undefined : sid;
}
