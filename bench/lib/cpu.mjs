// CPU time of a process from /proc, in nanoseconds: the sum over its threads of the time each spent on a CPU
// (schedstat, nanosecond precision). /proc/<pid>/stat's utime and stime count 10 ms ticks, too coarse for runs of
// a fraction of a second.
import { readdirSync, readFileSync } from 'node:fs';

/** CPU time used so far by every live thread of `pid`, in ns; 0 when the process is gone. */
export function cpuTimeNs(pid) {
  let total = 0;
  let threads;
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const thread of threads) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${thread}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return total;
}
