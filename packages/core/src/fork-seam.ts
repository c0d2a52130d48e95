/** The test seam of the supervisor: what `cluster.fork()` is called with, and a function that can stand in for it. */
import type { Worker as ClusterWorker } from 'node:cluster';

/**
 * Test seam: replaces `cluster.fork()` so state-machine tests can drive fake
 * workers. Real use never sets it.
 */
export type ForkFunction = (settings: ForkSettings) => ClusterWorker;

export interface ForkSettings {
  exec: string;
  args: string[];
  execArgv: string[];
  cwd: string;
  silent: boolean;
  env: Record<string, string>;
  /** Set when the supervisor owns listening sockets: stdin/out/err, 'ipc', then one descriptor per socket. */
  stdio?: Array<string | number>;
}
