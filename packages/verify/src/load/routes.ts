/**
 * What a load client sends and how it checks each answer. A route names a method, a path, the status it must answer
 * and whether its body must come back (an echo); the route contract every test fixture serves (GET /ping -> { pid },
 * POST /echo { data } -> { data, pid }) is one such list, `CONTRACT_ROUTES`.
 */
import { randomBytes } from 'node:crypto';

export interface Route {
  /** @default 'GET' */
  method: string;
  path: string;
  /** The status every answer must carry; undefined: any status below 500 (the app answered). */
  status?: number;
  /** Send `{ "data": "<random>" }` as JSON and require the answer to carry the same data back. */
  echo?: boolean;
  /** Require a JSON answer with an integer `pid` (the fixtures' contract). */
  requirePid?: boolean;
}

export const CONTRACT_ROUTES: readonly Route[] = [
  { method: 'GET', path: '/ping', status: 200, requirePid: true },
  { method: 'POST', path: '/echo', status: 200, echo: true, requirePid: true },
];

/** The reason a request failed, as the tables and assertions show it. */
export function reasonOf(error: unknown): string {
  const failure = error as { message?: string; code?: string; cause?: { code?: string; message?: string } } | undefined;
  if (failure?.message === 'socket hang up') return 'socket hang up';
  return failure?.code ?? failure?.cause?.code ?? failure?.message ?? String(error);
}

/** The data one echo request sends: unique per request, padded to `bytes`. */
export function echoData(label: string, bytes = 64): string {
  return `${label}-${randomBytes(8).toString('hex')}`.padEnd(bytes, '.');
}

/** The body an echo route sends for `data`. */
export function echoBody(data: string): string {
  return JSON.stringify({ data });
}

/** The pid a JSON answer names, if any. */
export function pidIn(text: string): number | undefined {
  try {
    const answer = JSON.parse(text) as { pid?: unknown } | null;
    return Number.isInteger(answer?.pid) ? (answer!.pid as number) : undefined;
  } catch {
    return undefined;
  }
}

/** Checks one answer against its route; returns the failure reason, or undefined when it holds. */
export function answerBreach(route: Route, status: number, text: string, sentData?: string): string | undefined {
  if (route.status === undefined ? status >= 500 : status !== route.status) return `status ${status}`;
  let answer: { pid?: unknown; data?: unknown } | undefined;
  if (route.requirePid || (route.echo && sentData !== undefined)) {
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      if (route.requirePid) return 'unexpected body';
    }
  }
  if (route.requirePid && !Number.isInteger(answer?.pid)) return 'unexpected body';
  if (route.echo && sentData !== undefined && answer?.data !== sentData && !(route.requirePid ? false : text.includes(sentData))) {
    return 'echo mismatch';
  }
  return undefined;
}

/** The fixtures' contract check: GET /ping when `sentData` is undefined, else POST /echo. */
export function contractBreach(status: number, text: string, sentData?: string): string | undefined {
  return answerBreach(CONTRACT_ROUTES[sentData === undefined ? 0 : 1]!, status, text, sentData);
}

/** The route a client sends as its `count`th request: the routes in turn, each client starting at its own. */
export function routeFor(routes: readonly Route[], clientIndex: number, count: number): Route {
  return routes[(count + clientIndex) % routes.length]!;
}

/** One failed request: when it was sent and when it failed (performance.now()), and why. */
export interface FailureRecord {
  began: number;
  at: number;
  reason: string;
}

/** Failure counts by reason, the most frequent first. */
export function sortedFailures(failures: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...failures.entries()].sort((a, b) => b[1] - a[1]));
}

/**
 * Resolves once `count` more requests have completed (answered or failed); at once when the load is stopped. Rejects
 * if the load reaches its bound first. `waiters`: the load's set of wake-up functions, called after every request.
 */
export function waitForCompleted(
  waiters: Set<() => void>,
  count: number,
  state: { completed: () => number; stopping: () => boolean; ended: () => boolean; bound: string },
): Promise<void> {
  const target = state.completed() + count;
  return new Promise((resolve, reject) => {
    const wake = () => {
      if (state.completed() < target && !state.stopping() && !state.ended()) return;
      waiters.delete(wake);
      if (state.completed() >= target || state.stopping()) resolve();
      else reject(new Error(`the load reached its bound (${state.bound}) before ${count} more requests`));
    };
    waiters.add(wake);
    wake();
  });
}
