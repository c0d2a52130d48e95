// The load of scenarios 1 to 3 and 6: the tests' own keep-alive client (GET /ping and POST /echo in turn, echoed
// bodies verified, every failure counted by the reason the client saw). Loads still running when a scenario breaks
// are stopped before the next system starts.
import { freePort, startLoad, startProcess, stopProcess, waitForHttp } from '@zero-downtime/testkit';
import { apps } from './contenders.mjs';

/** { start(options), stopAll(), warmUp() } for `settings.clients` clients. */
export function makeLoads(settings) {
  const active = new Set();
  function start(options) {
    const handle = startLoad({ clients: settings.clients, bodyBytes: 256, requestTimeoutMs: 10_000, ...options });
    active.add(handle);
    handle.done.finally(() => active.delete(handle));
    return handle;
  }
  async function stopAll() {
    await Promise.all([...active].map((handle) => handle.stop()));
  }
  /**
   * This process's load generator starts cold; without a warm-up the first system
   * measured would pay for its JIT. Two seconds against a throwaway plain server.
   */
  async function warmUp() {
    const port = await freePort();
    const server = startProcess(process.execPath, [apps.plain], { what: 'warm-up server', env: { ...process.env, PORT: String(port) } });
    try {
      await waitForHttp(port);
      await start({ port, durationMs: 2_000 }).done;
    } finally {
      await stopProcess(server.pid, { signal: 'SIGKILL', graceMs: 1_000 });
    }
  }
  return { start, stopAll, warmUp };
}
