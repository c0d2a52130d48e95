/** The control socket's messages: one request line per connection, answered with progress lines and one result or error line. */
import { UsageError } from '../../errors.js';

export type ControlCommand = 'reload' | 'status' | 'stop' | 'scale' | 'upgrade' | 'deploy' | 'rollback';

export type ControlRequest =
  | { command: 'status' | 'stop' }
  /** `canaryMs`: `zdt reload --canary DUR`, a canary window for this rollout only (0: none). */
  | { command: 'reload'; canaryMs?: number }
  | { command: 'scale'; workers: number }
  | { command: 'upgrade'; node?: string; timeoutMs?: number }
  /** `zdt deploy`: roll onto release `release`, kept in `deployTo` (which must be the supervisor's own). */
  | { command: 'deploy'; release: string; deployTo: string; keepReleases?: number }
  /** `zdt rollback [release]`: without a release, the newest kept one before the serving one that was never refused. */
  | { command: 'rollback'; release?: string };

/** What `zdt upgrade` asks for: the Node.js binary of the new supervisor, and how long it may take to be ready. */
export interface UpgradeRequest {
  node?: string;
  timeoutMs?: number;
}

export type ControlResponse =
  | { type: 'progress'; event: string; message: string; data?: unknown }
  | { type: 'result'; ok: true; data?: unknown }
  | { type: 'error'; ok: false; code: string; message: string };

/** The keys each command accepts besides `command`; any other key is refused, as in the configuration file. */
const REQUEST_KEYS: Record<ControlCommand, Record<string, 'number' | 'string'>> = {
  reload: { canaryMs: 'number' },
  status: {},
  stop: {},
  scale: { workers: 'number' },
  upgrade: { node: 'string', timeoutMs: 'number' },
  deploy: { release: 'string', deployTo: 'string', keepReleases: 'number' },
  rollback: { release: 'string' },
};

/** Keys a command cannot do without. */
const REQUIRED_KEYS: Partial<Record<ControlCommand, string[]>> = { scale: ['workers'], deploy: ['release', 'deployTo'] };

/** What was received, short enough for one error line. */
function received(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * One request line, checked before anything is done: a JSON object with a known `command`, only the keys that
 * command takes, each of its type. Throws UsageError (ERR_ZDT_USAGE) naming what was received. The worker count's
 * range is checked by scale() (ERR_ZDT_INVALID_OPTION).
 */
export function parseControlRequest(line: string): ControlRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new UsageError(`control request is not JSON, received ${received(line)}`);
  }
  const commands = Object.keys(REQUEST_KEYS).join(', ');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`control request: expected a JSON object such as {"command":"status"}, received ${received(value)}`);
  }
  const request = value as Record<string, unknown>;
  if (!Object.hasOwn(request, 'command')) throw new UsageError(`control request: missing "command" (one of ${commands}), received ${received(value)}`);
  const command = request.command;
  if (typeof command !== 'string' || !Object.hasOwn(REQUEST_KEYS, command)) {
    throw new UsageError(`unknown control command ${received(command)}; expected one of ${commands}`);
  }
  const keys = REQUEST_KEYS[command as ControlCommand];
  for (const [key, item] of Object.entries(request)) {
    if (key === 'command') continue;
    const type = keys[key];
    if (type === undefined) {
      const allowed = Object.keys(keys).length === 0 ? 'it takes no other key' : `it takes ${Object.keys(keys).map((name) => `"${name}"`).join(', ')}`;
      throw new UsageError(`control request "${command}": unknown key "${key}" (${allowed}), received ${received(value)}`);
    }
    if (typeof item !== type || (type === 'number' && !Number.isFinite(item))) {
      throw new UsageError(`control request "${command}": "${key}" must be a ${type}, received ${received(item)}`);
    }
  }
  const timeoutMs = request.timeoutMs as number | undefined;
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= 2_147_483_647)) {
    throw new UsageError(`control request "upgrade": "timeoutMs" must be a whole number of milliseconds from 1 to 2147483647, received ${timeoutMs}`);
  }
  for (const key of REQUIRED_KEYS[command as ControlCommand] ?? []) {
    if (!Object.hasOwn(request, key)) throw new UsageError(`control request "${command}": missing "${key}", received ${received(value)}`);
  }
  return request as ControlRequest;
}
