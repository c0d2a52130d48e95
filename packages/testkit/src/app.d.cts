import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface RequestCounts {
  finished: number;
  inFlight: number;
}

export declare function serveContract(request: IncomingMessage, response: ServerResponse, extra?: Record<string, unknown>): boolean;
/** `nestCommon` is the app's own `@nestjs/common`. */
export declare function contractController(nestCommon: Record<string, unknown>): new () => unknown;
export declare function countRequests(server: Server): RequestCounts;
export declare function printCleanup(counts: RequestCounts, details?: Record<string, unknown>): void;
/** A self-signed certificate for 127.0.0.1 and localhost (tests only): `cert` is also what clients trust (`ca`). */
export declare const testCertificate: { key: string; cert: string };
