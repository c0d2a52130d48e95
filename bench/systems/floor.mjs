// The floor of a one-at-a-time rollout: fork and boot `count` workers of <app> one
// after the other, from a primary doing nothing else (like a supervisor's), and
// report the total time to the parent. Each worker is killed once it listens.
// usage (forked by the bench): node floor.mjs <app> <count>
import cluster from 'node:cluster';
import { performance } from 'node:perf_hooks';

const [app, count] = [process.argv[2], Number(process.argv[3] ?? 1)];
cluster.setupPrimary({ exec: app, silent: true });

let totalMs = 0;
for (let index = 0; index < count; index += 1) {
  const began = performance.now();
  const worker = cluster.fork();
  await new Promise((resolve, reject) => {
    worker.once('listening', resolve);
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before listening`)));
  });
  totalMs += performance.now() - began;
  worker.process.kill('SIGKILL');
}
process.send?.({ type: 'floor', totalMs });
process.disconnect?.();
