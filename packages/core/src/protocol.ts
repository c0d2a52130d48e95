/**
 * The IPC messages between the supervisor (primary) and its workers.
 * Every message is a flat object whose `zdt` field is the verb; a receiver
 * dispatches on it through a lookup table and ignores verbs it does not know,
 * so either side may be newer than the other.
 */

/** Why a worker is asked to stop. */
export type ShutdownReason = 'reload' | 'stop' | 'memory' | 'hung' | 'replace' | 'scale';

/** Primary → worker: drain and exit. `drainTimeoutMs` is the budget left before the primary SIGKILLs. */
export interface ShutdownMessage {
  zdt: 'shutdown';
  reason: ShutdownReason;
  drainTimeoutMs: number;
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

/** Worker → primary: the app is ready to serve (readiness `'message'`). */
export interface ReadyMessage {
  zdt: 'ready';
}

/** Worker → primary: answer to `ping`; rss in bytes. */
export interface PongMessage {
  zdt: 'pong';
  seq: number;
  rss: number;
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
}

/** Worker → primary: replace me start-first (e.g. after an uncaught exception), then shut me down. */
export interface ReplaceMeMessage {
  zdt: 'replace';
  reason: string;
}

export type PrimaryToWorker = ShutdownMessage | PingMessage;
export type WorkerToPrimary =
  | HelloMessage
  | ReadyMessage
  | PongMessage
  | DrainingMessage
  | DrainedMessage
  | ReplaceMeMessage;
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
  /** Readiness mode: "listening" or "message". */
  readiness: 'ZDT_READINESS',
  /** The primary's drain budget in ms, so the worker can end its drain before the SIGKILL. */
  drainTimeoutMs: 'ZDT_DRAIN_TIMEOUT_MS',
  /** Heartbeat interval in ms (0 when off). */
  heartbeatIntervalMs: 'ZDT_HEARTBEAT_INTERVAL_MS',
} as const;
