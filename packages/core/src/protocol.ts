/**
 * The IPC messages between the supervisor (primary) and its workers.
 * Every message is a flat object whose `zdt` field is the verb; a receiver
 * dispatches on it through a lookup table and ignores verbs it does not know,
 * so either side may be newer than the other.
 */

/** Why a worker is asked to drain. (A hung worker is not asked: it cannot answer; it is SIGKILLed.) */
export type ShutdownReason = 'reload' | 'stop' | 'memory' | 'replace' | 'scale' | 'upgrade';

/**
 * Primary → worker: drain and exit. The time limits are not in the message: the worker read them once from its
 * environment (`WORKER_ENV.drainTimeoutMs`, `WORKER_ENV.cleanupTimeoutMs`) when it was forked.
 */
export interface ShutdownMessage {
  zdt: 'shutdown';
  reason: ShutdownReason;
}

/** Primary → worker: send the app's own prom-client metrics; answered with `collected` carrying the same id. */
export interface CollectMessage {
  zdt: 'collect';
  requestId: number;
}

/** One metric as prom-client's `getMetricsAsJSON()` gives it. */
export interface AppMetric {
  name: string;
  help: string;
  type: string;
  /** How workers' values combine: 'sum' (default), 'first', 'min', 'max', 'average', 'omit'. */
  aggregator?: string;
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

/** Worker → primary: the app's metrics, null when the app does not use prom-client. */
export interface CollectedMessage {
  zdt: 'collected';
  requestId: number;
  metrics: AppMetric[] | null;
}

/**
 * Worker → primary, unasked: the app's counters and histograms that changed in the last event-loop turn, as they
 * stand now (sent only when the supervisor serves metrics: `WORKER_ENV.appMetrics`). A worker killed with SIGKILL
 * says nothing more, so this is what keeps its last known values current.
 */
export interface AppMetricsMessage {
  zdt: 'metrics';
  metrics: AppMetric[];
}

/** Primary → worker: heartbeat probe; answered with `pong` carrying the same `seq`. */
export interface PingMessage {
  zdt: 'ping';
  seq: number;
}

/** Worker → primary: the worker-side module is loaded and will answer pings. */
export interface HelloMessage {
  zdt: 'hello';
  pid: number;
  version: string;
}

/**
 * Worker → primary: the worker is ready to serve. Under readiness `'message'` the app said so (`ready()`); under
 * `'http:PATH'` only this message with `probe: true` counts: the worker side's probe of its own server passed.
 */
export interface ReadyMessage {
  zdt: 'ready';
  probe?: true;
}

/**
 * Worker → primary (readiness `'http:PATH'`): the latest failed probe, sent when what it says changes, such as
 * `GET /healthz answered 503 "warming up"`. A worker not ready in time is refused with the last one.
 */
export interface ProbeMessage {
  zdt: 'probe';
  result: string;
}

/**
 * Primary → worker: the supervisor counts this worker ready; its listening sockets may start accepting (held until
 * then by the worker side's accept gate, worker/accept-gate.ts).
 */
export interface AcceptMessage {
  zdt: 'accept';
}

/** Worker → primary: answer to `accept`: the worker's shared listening sockets accept from now on. */
export interface AcceptingMessage {
  zdt: 'accepting';
}

/**
 * Worker → primary, at a final stop: every server of this worker that closes when its queue is quiet has closed its
 * listening handle; it holds the connections that arrived meanwhile (worker/held-release.ts).
 */
export interface ListeningClosedMessage {
  zdt: 'listening-closed';
}

/** Primary → worker, at a final stop: every worker stopped listening; answer the connections held until now. */
export interface ReleaseHeldMessage {
  zdt: 'release-held';
}

/** Worker → primary: answer to `ping`; rss in bytes. */
export interface PongMessage {
  zdt: 'pong';
  seq: number;
  rss: number;
  /** Event-loop delay since the previous pong, in ms (mean and max), when the worker measures it. */
  loopDelayMs?: { mean: number; max: number };
}

/** Worker → primary: the worker began draining (for whatever trigger). */
export interface DrainingMessage {
  zdt: 'draining';
  reason: string;
}

/** Worker → primary: the HTTP drain ended; `cut` connections were closed at the deadline. */
export interface DrainedMessage {
  zdt: 'drained';
  clean: boolean;
  cut: number;
  /** Of `cut`: upgraded sockets and event streams. */
  cutLongLived?: number;
  /** Requests in flight when the drain started. */
  inFlight?: number;
  /** Requests that finished during the drain. */
  served?: number;
  /** Idle keep-alive sockets closed after their grace period. */
  idleClosed?: number;
  /** Requests never handed to the app: parsed after their connection's closing answer went out. */
  unprocessed?: number;
  durationMs?: number;
  /** The app's prom-client metrics as the drain ended, so its counters outlive the worker. */
  appMetrics?: AppMetric[] | null;
}

/** Worker → primary: the cleanup hooks ran (after `drained`); the worker exits next. */
export interface CleanedMessage {
  zdt: 'cleaned';
  durationMs: number;
  /** Hooks that failed or timed out. */
  failures: number;
}

/** What a worker tells the primary about an error: enough to name the cause without the worker's own log. */
export interface ErrorSummary {
  name: string;
  message: string;
  /** `EADDRINUSE`, `ERR_MODULE_NOT_FOUND`... when the error has one. */
  code?: string;
  /** For listen errors: the address and port asked for. */
  address?: string;
  port?: number;
}

/** Worker → primary: replace me start-first (e.g. after an uncaught exception), then shut me down. */
export interface ReplaceMeMessage {
  zdt: 'replace';
  reason: string;
  /** The uncaught error behind the request, when there is one. */
  error?: ErrorSummary;
}

/**
 * Worker → primary: an uncaught exception reached the process (sent by the preload every supervised worker runs,
 * before node's default handler or the worker module's own). Sent at once, so a worker that dies before it is ready
 * is reported with its cause.
 */
export interface FatalMessage {
  zdt: 'fatal';
  origin: string;
  error: ErrorSummary;
}

/**
 * Worker → primary: a server is listening on a socket the supervisor owns (`--listen`, socket activation). The
 * worker accepts on it itself, so node:cluster never sees that listen: this message stands for its 'listening'.
 */
export interface ListeningMessage {
  zdt: 'listening';
  /** The address as `--listen` named it (`127.0.0.1:3000`, `unix:/run/app.sock`). */
  listener: string;
  address: string;
  /** -1 for a Unix socket. */
  port: number;
}

/**
 * Primary → worker: a canary window opens; count responses and 5xx from now on (`http.server.response.finish`,
 * subscribed only until the window closes).
 */
export interface CountOpenMessage {
  zdt: 'count-open';
  window: number;
}

/** Primary → worker: the canary window closes; stop counting and answer with `counted` for the same window. */
export interface CountCloseMessage {
  zdt: 'count-close';
  window: number;
}

/** Worker → primary: what the worker served during the window (zeros for a window it never opened). */
export interface CountedMessage {
  zdt: 'counted';
  window: number;
  requests: number;
  /** Responses with a 5xx status. */
  errors: number;
}


/**
 * Sticky routing (`--sticky sid|ip`, primary/sticky/ and worker/sticky.ts). Worker → primary: the app's listen() on a
 * TCP port; the supervisor binds that address once for every worker and accepts on it itself.
 */
export interface StickyListenMessage {
  zdt: 'sticky:listen';
  /** The worker's name for this listen, echoed in the answer. */
  requestId: number;
  host?: string;
  port: number;
}

/** Primary → worker: the answer to `sticky:listen`: where the supervisor accepts, or why it cannot. */
export interface StickyListeningMessage {
  zdt: 'sticky:listening';
  requestId: number;
  /** The supervisor's key for the address; every connection handed over for it names it. */
  key?: string;
  address?: { address: string; family: string; port: number };
  error?: { code: string; message: string };
}

/** Primary → worker, with the socket as the message's handle: a connection and the bytes already read from it. */
export interface StickyConnectionMessage {
  zdt: 'sticky:connection';
  key: string;
  /** Base64 of what the supervisor read to route it (at least the request line). */
  head: string;
}

/** Worker → primary: an engine.io session opened (`open: true`) or closed here (`manageSocketIo()`). */
export interface StickySessionMessage {
  zdt: 'sticky:session';
  sid: string;
  open: boolean;
}

export type PrimaryToWorker = ShutdownMessage | PingMessage | CollectMessage | AcceptMessage | CountOpenMessage | CountCloseMessage | ReleaseHeldMessage;
export type WorkerToPrimary =
  | HelloMessage
  | ReadyMessage
  | PongMessage
  | DrainingMessage
  | DrainedMessage
  | CleanedMessage
  | CollectedMessage
  | AppMetricsMessage
  | ReplaceMeMessage
  | FatalMessage
  | ListeningMessage
  | ProbeMessage
  | CountedMessage
  | AcceptingMessage
  | ListeningClosedMessage;
export type ProtocolMessage = PrimaryToWorker | WorkerToPrimary;

export function isProtocolMessage(value: unknown): value is ProtocolMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { zdt?: unknown }).zdt === 'string'
  );
}

/** Environment variables the supervisor sets on every worker it forks. */
export const WORKER_ENV = {
  /** "1" in a worker forked by a zero-downtime supervisor. */
  supervised: 'ZDT_SUPERVISED',
  /** The worker's stable slot id (1..N). */
  workerId: 'ZDT_WORKER_ID',
  /** The release generation the worker was forked for (0 at start, +1 per rollout). */
  generation: 'ZDT_GENERATION',
  /** Readiness mode: "listening", "message" or "http:PATH" (the worker side then probes PATH on its own server). */
  readiness: 'ZDT_READINESS',
  /**
   * How long requests in flight may run to completion once a drain starts, in ms (the supervisor's
   * `drainTimeoutMs`). The worker's HTTP drain uses it unless the app set a shorter `drainTimeoutMs` of its own.
   */
  drainTimeoutMs: 'ZDT_DRAIN_TIMEOUT_MS',
  /**
   * How long cleanup hooks may run in all after the HTTP drain, in ms. The supervisor SIGKILLs a stopping worker
   * at drain + cleanup + a margin, so the worker bounds its hooks by this.
   */
  cleanupTimeoutMs: 'ZDT_CLEANUP_TIMEOUT_MS',
  /** The supervisor's own pid: with the control path, how a later `zdt start` recognises workers a killed supervisor left behind. */
  supervisorPid: 'ZDT_SUPERVISOR_PID',
  /** The control socket path of the `zdt start` that forked the worker (set by the CLI only). */
  supervisorControl: 'ZDT_SUPERVISOR_CONTROL',
  /** "1" when the preload loads the worker side into the worker before the app (the supervisor's `autoDrain`). */
  autoDrain: 'ZDT_AUTO_DRAIN',
  /** Heartbeat interval in ms (0 when off). */
  heartbeatIntervalMs: 'ZDT_HEARTBEAT_INTERVAL_MS',
  /** "1" when the supervisor serves metrics: the worker pushes its app's changed counters and histograms (`metrics`). */
  appMetrics: 'ZDT_APP_METRICS',
  /**
   * The supervisor's listening sockets, as JSON `[{ "address": "127.0.0.1:3000", "host", "port", "fd": 4 }]` or
   * `{ "address": "unix:/run/app.sock", "path", "fd": 5 }`: each is inherited at `fd`, and a listen() on that port or
   * path is made on it. Set only when the supervisor owns listening sockets.
   */
  listenFds: 'ZDT_LISTEN_FDS',
  /** `sid` or `ip` under sticky routing: the app's TCP listen() goes to the supervisor (worker/sticky.ts). */
  sticky: 'ZDT_STICKY',
} as const;
