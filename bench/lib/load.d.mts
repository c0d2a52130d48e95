// Types for load.mjs, so the end-to-end tests (TypeScript) can drive the bench's load.
export declare const BUCKET_MS: number;

export interface LoadOptions {
  port: number;
  host?: string;
  clients?: number;
  durationMs?: number;
  maxRequests?: number;
  postRatio?: number;
  bodyBytes?: number;
  requestTimeoutMs?: number;
  path?: string;
  verify?: boolean;
}

export interface LoadResult {
  startedAtEpochMs: number;
  durationMs: number;
  sent: number;
  ok: number;
  failed: number;
  /** Failed requests by reason: ECONNREFUSED, ECONNRESET, socket hang up, status 503, body mismatch, timeout. */
  reasons: Record<string, number>;
  series: Array<{ ok: number; failed: number }>;
  times: number[];
  latencies: number[];
  oks: number[];
}

export interface LoadHandle {
  startedAt: number;
  startedAtEpochMs: number;
  now(): number;
  progress(): { sent: number; failed: number; reasons: Record<string, number> };
  stop(): Promise<LoadResult>;
  done: Promise<LoadResult>;
}

export declare function startLoad(options: LoadOptions): LoadHandle;
export declare function classifyError(error: unknown): string;
export declare function percentile(values: number[], p: number): number | null;
