/**
 * The readiness grammar, read the same way by the supervisor (flag, file, API) and by the worker side (the
 * environment the supervisor writes): `listening`, `message`, or `http:PATH`. Loads no primary code.
 */
import { InvalidValue } from './parse.js';

/**
 * When a new worker counts as ready: its first `'listening'`; the app calling `ready()`; or its own server answering
 * 2xx to `GET PATH`, asked by the worker side over a private connection (`http:/healthz`).
 */
export type Readiness = 'listening' | 'message' | `http:${string}`;

const HTTP_PREFIX = 'http:';

export const READINESS_EXPECTED = '"listening", "message" or "http:PATH" with a PATH that starts with "/" (such as "http:/healthz")';

/** A request target a probe may send: starts with "/", no spaces or control characters (RFC 9112 origin-form). */
const PATH_PATTERN = /^\/[\x21-\x7e]*$/;

/** Reads a readiness value; InvalidValue (the caller names the key, flag or option and the value) when it is none. */
export function readReadiness(value: unknown): Readiness {
  if (value === 'listening' || value === 'message') return value;
  if (typeof value === 'string' && value.startsWith(HTTP_PREFIX) && PATH_PATTERN.test(value.slice(HTTP_PREFIX.length))) {
    return value as Readiness;
  }
  throw new InvalidValue(READINESS_EXPECTED);
}

/** The path an `http:PATH` readiness probes; undefined for the other modes (and for anything that does not read). */
export function probePath(readiness: string | undefined): string | undefined {
  if (readiness === undefined || !readiness.startsWith(HTTP_PREFIX)) return undefined;
  const path = readiness.slice(HTTP_PREFIX.length);
  return PATH_PATTERN.test(path) ? path : undefined;
}
