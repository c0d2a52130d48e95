/**
 * `zdt verify`'s command line: its own flags, the `zdt start` flags it passes on unchanged, and the help text. Every
 * bad value is a UsageError naming the flag and the value received (exit 2).
 */
import { exitStatusHelp, START_FLAGS } from '@zero-downtime/core/tooling';
import { parseArgs } from 'node:util';
import { parseDuration, UsageError } from '@zero-downtime/core';
import { properCloseCodes, type Route } from './load/index.js';

export const HELP = `Usage: zdt verify [<entry> | <config file>] [options] [-- app args]

Starts the app under the supervisor exactly as 'zdt start' would (same flags, same configuration
file; a private control socket), drives real traffic at it, and deploys while it does: rolling
restarts, a worker killed with SIGKILL, a release that cannot boot (which must be refused), and on
request 'zdt scale' and 'zdt upgrade'. Fails on the first thing a client would notice.

Traffic (each kind on by default; HTTP/2 when the app answers it):
  keep-alive      node:http clients that keep their connection
  close           a new connection per request
  fetch           Node's fetch (undici), pooled connections
  pipelined       4 requests written at once per connection (GET/HEAD routes only)
  h2              HTTP/2 cleartext (h2c) sessions, when the app serves it
  ws              WebSocket clients that ping every 50ms, when the app serves one (--websocket)
  sse             server-sent events clients (EventSource), when the app serves a stream (--sse)
                  ws and sse count connections: each must be closed properly (a close frame
                  ${properCloseCodes()}; the stream ended) and is then opened again, or be open
                  at the end

Options:
  --route "METHOD PATH [STATUS] [echo]"
                           a route to send (repeatable). STATUS: the status every answer must carry
                           (default: any below 500); echo: send {"data":"<random>"} as JSON and
                           require the answer to carry it back. Default: the first of /health,
                           /healthz, /live, /ping that answers 200, else GET / (any status below 500)
  --websocket PATH         the app's WebSocket path (default: the first of /ws, /websocket, /socket
                           that accepts a WebSocket handshake; none: no ws traffic)
  --sse PATH               the app's event stream (default: the first of /events, /sse, /stream that
                           answers 200 text/event-stream; none: no sse traffic)
  --traffic KINDS          the kinds to run, comma-separated (default: all of them)
  --clients N              clients per kind (default: 4)
  --reloads N              rolling restarts ('zdt reload') during the run (default: 2)
  --no-crash               skip the worker crash (default: one worker is killed with SIGKILL; only
                           requests in flight on it may fail, and they are reported apart)
  --bad-entry FILE         the release that must be refused: its workers load FILE at boot
                           (node --import) before the entry
  --bad-env KEY=VALUE      the release that must be refused: the workers get this variable
                           (repeatable). Default: a release whose workers throw at boot
  --no-bad-release         skip the release that must be refused
  --scale                  'zdt scale' up by one worker, then down again
  --upgrade                'zdt upgrade' (needs --listen, as for 'zdt upgrade')
  --port N                 the port to send to (default: the one the first worker listens on)
  --host HOST              the address to send to (default: the one the first worker listens on;
                           127.0.0.1 for any address)
  --timeout DUR            the whole run's bound (default: 5m)
  --request-timeout DUR    a request, a handshake or a WebSocket ping unanswered this long fails
                           (timeout) (default: 10s)

Setup checks (each failing one names the fix):
  --behind nginx|alb|gcp|cloudflare|SECONDS
                           the proxy in front of the app, with its upstream keep-alive idle timeout
                           (nginx 60s, alb 60s, gcp 600s, cloudflare 900s): the app's keepAliveTimeout
                           must exceed it, read from the Keep-Alive header of its answers (Node's
                           servers send timeout=<seconds>), else measured on an idle connection
  --readiness-period DUR   how long the load balancer takes to see a stopping instance as not ready
                           (Kubernetes: readinessProbe periodSeconds x failureThreshold)
  --shutdown-delay DUR     what keeps an instance serving meanwhile: a preStop sleep, or the app's
                           shutdownDelayMs when it runs without zdt; must cover --readiness-period
  --grace-period DUR       Kubernetes terminationGracePeriodSeconds: must cover the shutdown delay,
                           the drain and cleanup timeouts and 1s

Output:
  --json                   the results as one JSON object on stdout instead of the table
  --junit FILE             the results as a JUnit XML file (one test case per traffic kind,
                           event and check)

'zdt start' flags passed on: --config, --only, --env, --env-file, --node-args, --cwd, --name,
--workers, --ready, --ready-timeout, --drain-timeout, --cleanup-timeout, --heartbeat-timeout,
--max-memory, --batch-size, --listen, --log-format, --auto-drain, --no-auto-drain.
A live progress line goes to stderr when it is a terminal.

${exitStatusHelp('verify')}
`;

/**
 * The `zdt start` flags verify accepts and passes on as given: those of `zdt start` itself (from the settings table),
 * but the control socket, which verify keeps private; `--env`, `--listen` and the auto-drain pair are passed apart.
 */
const START_STRING_FLAGS = Object.entries(START_FLAGS)
  .filter(([name, spec]) => spec.type === 'string' && !('multiple' in spec) && name !== 'control')
  .map(([name]) => name);

export const TRAFFIC_KINDS = ['keep-alive', 'close', 'fetch', 'pipelined', 'h2', 'ws', 'sse'] as const;
export type TrafficKind = (typeof TRAFFIC_KINDS)[number];

/** Upstream keep-alive idle timeouts of the proxies `--behind` names, in seconds. */
export const UPSTREAM_IDLE_SECONDS = { nginx: 60, alb: 60, gcp: 600, cloudflare: 900 } as const;

export interface VerifyPlan {
  /** What `zdt start` is given: the positional, the passed-on flags, `-- app args`. */
  startArgs: string[];
  /** The positional and passed-on flags, parsed, for reading the configuration the way `zdt start` will. */
  start: { positional: string | undefined; values: Record<string, string | boolean | string[] | undefined> };
  routes: Route[] | undefined;
  /** The WebSocket path and the event stream to use; undefined: found by probing common paths. */
  websocket: string | undefined;
  sse: string | undefined;
  traffic: TrafficKind[];
  clients: number;
  reloads: number;
  crash: boolean;
  badRelease: { kind: 'default' } | { kind: 'entry'; file: string } | { kind: 'env'; env: Record<string, string> } | undefined;
  scale: boolean;
  upgrade: boolean;
  port: number | undefined;
  host: string | undefined;
  timeoutMs: number;
  requestTimeoutMs: number;
  behind: { name: string; seconds: number } | undefined;
  readinessPeriodMs: number | undefined;
  shutdownDelayMs: number | undefined;
  gracePeriodMs: number | undefined;
  json: boolean;
  junit: string | undefined;
}

const string = { type: 'string' } as const;
const flag = { type: 'boolean' } as const;
const OPTIONS = {
  ...(Object.fromEntries(START_STRING_FLAGS.map((name) => [name, string])) as Record<string, typeof string>),
  env: { type: 'string', multiple: true },
  listen: { type: 'string', multiple: true },
  'auto-drain': flag,
  'no-auto-drain': flag,
  route: { type: 'string', multiple: true },
  traffic: string,
  websocket: string,
  sse: string,
  clients: string,
  reloads: string,
  'no-crash': flag,
  'bad-entry': string,
  'bad-env': { type: 'string', multiple: true },
  'no-bad-release': flag,
  scale: flag,
  upgrade: flag,
  port: string,
  host: string,
  timeout: string,
  'request-timeout': string,
  behind: string,
  'readiness-period': string,
  'shutdown-delay': string,
  'grace-period': string,
  json: flag,
  junit: string,
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `zdt verify`'s arguments; undefined when --help was asked (the help is printed by the caller). */
export function parseVerifyArgs(argv: string[]): VerifyPlan | undefined {
  const separator = argv.indexOf('--');
  const own = separator >= 0 ? argv.slice(0, separator) : argv;
  const appArgs = separator >= 0 ? argv.slice(separator) : [];
  let parsed;
  try {
    parsed = parseArgs({ args: own, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.split(/\.\s/)[0] ?? 'bad arguments');
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}; put app arguments after --`);
  const startArgs = [...positionals];
  const given = values as Record<string, unknown>;
  for (const name of START_STRING_FLAGS) if (typeof given[name] === 'string') startArgs.push(`--${name}`, given[name] as string);
  for (const item of values.env ?? []) startArgs.push('--env', item);
  for (const item of values.listen ?? []) startArgs.push('--listen', item);
  if (values['auto-drain']) startArgs.push('--auto-drain');
  if (values['no-auto-drain']) startArgs.push('--no-auto-drain');
  startArgs.push(...appArgs);
  return {
    startArgs,
    start: { positional: positionals[0], values },
    routes: values.route?.map(parseRoute),
    websocket: path('--websocket', values.websocket),
    sse: path('--sse', values.sse),
    traffic: parseTraffic(values.traffic),
    clients: count('--clients', values.clients, 4, 1, 256),
    reloads: count('--reloads', values.reloads, 2, 0, 100),
    crash: !values['no-crash'],
    badRelease: badRelease(values),
    scale: values.scale === true,
    upgrade: values.upgrade === true,
    port: values.port === undefined ? undefined : count('--port', values.port, 0, 1, 65535),
    host: values.host,
    timeoutMs: duration('--timeout', values.timeout) ?? 300_000,
    requestTimeoutMs: duration('--request-timeout', values['request-timeout']) ?? 10_000,
    behind: parseBehind(values.behind),
    readinessPeriodMs: duration('--readiness-period', values['readiness-period']),
    shutdownDelayMs: duration('--shutdown-delay', values['shutdown-delay']),
    gracePeriodMs: duration('--grace-period', values['grace-period']),
    json: values.json === true,
    junit: values.junit,
  };
}

/** `METHOD PATH [STATUS] [echo]`. */
export function parseRoute(text: string): Route {
  const words = text.trim().split(/\s+/);
  const bad = (why: string) => new UsageError(`--route: expected "METHOD PATH [STATUS] [echo]" (${why}), received ${JSON.stringify(text)}`);
  const [method, path, ...rest] = words;
  if (!method || !/^[A-Z]+$/.test(method)) throw bad('METHOD in capitals, like GET or POST');
  if (!path || !path.startsWith('/')) throw bad('PATH starting with /');
  const route: Route = { method, path };
  for (const word of rest) {
    if (/^\d{3}$/.test(word) && Number(word) >= 100 && Number(word) <= 599 && route.status === undefined) route.status = Number(word);
    else if (word === 'echo' && !route.echo) route.echo = true;
    else throw bad(`${JSON.stringify(word)} is neither a status from 100 to 599 nor "echo"`);
  }
  if (route.echo && (method === 'GET' || method === 'HEAD')) throw bad('echo sends a body: use POST, PUT or PATCH');
  return route;
}

function parseTraffic(value: string | undefined): TrafficKind[] {
  if (value === undefined) return [...TRAFFIC_KINDS];
  const kinds = value.split(',').map((kind) => kind.trim());
  for (const kind of kinds) {
    if (!(TRAFFIC_KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(`--traffic: expected a comma-separated list of ${TRAFFIC_KINDS.join(', ')}, received ${JSON.stringify(value)}`);
    }
  }
  return [...new Set(kinds)] as TrafficKind[];
}

function path(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && !value.startsWith('/')) throw new UsageError(`${name}: expected a path starting with /, received ${JSON.stringify(value)}`);
  return value;
}

function count(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${name}: expected a whole number from ${min} to ${max}, received ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function duration(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value, name);
  } catch {
    throw new UsageError(`${name}: expected a duration like 500ms, 30s, 2m, received ${JSON.stringify(value)}`);
  }
}

function parseBehind(value: string | undefined): VerifyPlan['behind'] {
  if (value === undefined) return undefined;
  if (Object.hasOwn(UPSTREAM_IDLE_SECONDS, value)) return { name: value, seconds: UPSTREAM_IDLE_SECONDS[value as keyof typeof UPSTREAM_IDLE_SECONDS] };
  if (/^\d+(\.\d+)?$/.test(value) && Number(value) > 0) return { name: `${value}s upstream`, seconds: Number(value) };
  throw new UsageError(`--behind: expected nginx, alb, gcp, cloudflare or the upstream idle timeout in seconds, received ${JSON.stringify(value)}`);
}

function badRelease(values: { 'bad-entry'?: string; 'bad-env'?: string[]; 'no-bad-release'?: boolean }): VerifyPlan['badRelease'] {
  const given = [values['bad-entry'] !== undefined, (values['bad-env'] ?? []).length > 0, values['no-bad-release'] === true].filter(Boolean).length;
  if (given > 1) throw new UsageError('--bad-entry, --bad-env and --no-bad-release: give one');
  if (values['no-bad-release']) return undefined;
  if (values['bad-entry'] !== undefined) return { kind: 'entry', file: values['bad-entry'] };
  if (values['bad-env']?.length) {
    const env: Record<string, string> = {};
    for (const item of values['bad-env']) {
      const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(item);
      if (!assignment) throw new UsageError(`--bad-env: expected KEY=VALUE, received ${JSON.stringify(item)}`);
      env[assignment[1]!] = assignment[2]!;
    }
    return { kind: 'env', env };
  }
  return { kind: 'default' };
}
