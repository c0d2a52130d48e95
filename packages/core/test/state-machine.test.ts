// The worker handle's state machine, through the declared fork seam (./fork-seam.ts). The supervisor's behaviours
// tested through the same seam live with the behaviour they test (lifecycle, crash restarts, reloads, refused releases).
import { describe, expect, it } from 'vitest';
import type { ForkSettings } from '../src/index.js';
import { WorkerHandle } from '../src/primary/workers/handle.js';
import { fakeCluster } from './fork-seam.js';

describe('WorkerHandle state machine', () => {
  it('moves only along allowed edges and announces each move', async () => {
    const cluster = fakeCluster('hang');
    const release = { generation: 0, cwd: '/srv/app', entryPath: '/srv/app/app.js' };
    const handle = new WorkerHandle(cluster.fork({} as ForkSettings), 1, release, 'listening');
    const moves: string[] = [];
    handle.on('state', ({ from, to }) => moves.push(`${from}->${to}`));
    handle.transition('ready');
    expect(() => handle.transition('starting')).toThrow(/illegal state move ready -> starting/);
    await handle.stop('stop', 1_000);
    expect(() => handle.transition('ready')).toThrow(/illegal state move exited -> ready/);
    expect(moves).toEqual(['starting->ready', 'ready->stopping', 'stopping->exited']);
    // The time limits reached the worker once, in its environment; the message only says why.
    expect(cluster.forked[0]!.sent).toEqual([{ zdt: 'shutdown', reason: 'stop' }]);
    expect(cluster.forked[0]!.disconnected).toBe(true);
  });
});
