// One request at a time, on a real socket: `request`, `get` and `pidOf` come from the product
// (`@zero-downtime/verify/load`); waiting for an app to answer is a test helper.
import { get } from '@zero-downtime/verify/load';
import { waitFor } from './processes.mjs';

export { get, pidOf, request } from '@zero-downtime/verify/load';

/** Resolves once GET `path` answers 200. */
export function waitForHttp(port, { timeoutMs = 20_000, path = '/ping' } = {}) {
  return waitFor(
    async () => {
      try {
        return (await get(port, path, { timeoutMs: 2_000 })).status === 200;
      } catch {
        return false;
      }
    },
    `http://127.0.0.1:${port}${path}`,
    { timeoutMs, intervalMs: 50 },
  );
}
