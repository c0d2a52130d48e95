// This project's supervisor in a process of its own, driven by the bench over IPC:
// {type:'reload'} -> {type:'reload:done', ok, replaced | error}, {type:'status'}.
// SIGTERM/SIGINT stop it gracefully. Options come as JSON in ZDT_BENCH_OPTIONS.
import { Supervisor } from '@zero-downtime/core';

const options = JSON.parse(process.env.ZDT_BENCH_OPTIONS ?? '{}');
const report = (message) => process.connected && process.send?.(message);

const supervisor = new Supervisor({ logger: false, ...options });
for (const event of ['fork', 'ready', 'exit', 'crash']) {
  supervisor.on(event, (detail) => report({ type: event, pid: detail?.pid, at: Date.now() }));
}

process.on('message', async (message) => {
  if (message?.type === 'reload') {
    try {
      const result = await supervisor.reload();
      report({ type: 'reload:done', ok: true, replaced: result.replaced, durationMs: result.durationMs });
    } catch (error) {
      report({ type: 'reload:done', ok: false, code: error.code, error: error.message });
    }
  } else if (message?.type === 'status') {
    report({ type: 'status', status: supervisor.status() });
  }
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await supervisor.stop();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

try {
  await supervisor.start();
  report({ type: 'started', pids: supervisor.status().workers.map((worker) => worker.pid) });
} catch (error) {
  report({ type: 'start-failed', error: `${error.code ?? ''} ${error.message}` });
  process.exit(1);
}
