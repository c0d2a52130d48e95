/** The control socket's messages: one request line per connection, answered with progress lines and one result or error line. */
export type ControlCommand = 'reload' | 'status' | 'stop' | 'scale' | 'upgrade';

export type ControlRequest =
  | { command: 'reload' | 'status' | 'stop' }
  | { command: 'scale'; workers: number }
  | { command: 'upgrade'; node?: string; timeoutMs?: number };

/** What `zdt upgrade` asks for: the Node.js binary of the new supervisor, and how long it may take to be ready. */
export interface UpgradeRequest {
  node?: string;
  timeoutMs?: number;
}

export type ControlResponse =
  | { type: 'progress'; event: string; message: string; data?: unknown }
  | { type: 'result'; ok: true; data?: unknown }
  | { type: 'error'; ok: false; code: string; message: string };
