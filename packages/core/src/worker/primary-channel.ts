/**
 * A message to the primary over the IPC channel, when this process has one open. A channel closing between the check
 * and the send drops the message: the supervisor sees the process exit anyway. (The runtime's own send, which waits
 * until a message is written and goes only to a zero-downtime supervisor, is in runtime.ts.)
 */
import type { StickyListenMessage, StickySessionMessage, WorkerToPrimary } from '../protocol.js';

export function sendToPrimary(message: WorkerToPrimary | StickyListenMessage | StickySessionMessage): void {
  if (typeof process.send !== 'function' || !process.connected) return;
  try {
    process.send(message);
  } catch {
    // The channel is closing.
  }
}
