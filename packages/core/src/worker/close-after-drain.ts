import { InvalidOptionError } from '../errors.js';
import { isDrainingState } from './drain-state.js';
import { getRuntime } from './runtime.js';

/**
 * For adapters: runs a framework's own close (`fastify.close()`, Nest's `app.close()`) once, as a cleanup step after
 * the HTTP drain. Run earlier, it would refuse requests still arriving (Fastify answers 503 while closing) or tear
 * down what requests in flight still use (Nest runs `onModuleDestroy` while HTTP serves).
 *
 * Returns the function to call from the framework's own close hook (Fastify `onClose`, Nest `onModuleDestroy`).
 * Outside a drain, the app closed the framework itself (a test, a script): the drain must not close it again, so the
 * cleanup step is removed. During a drain the cleanup step is awaiting this very close: it stays, so the process does
 * not exit before the framework's remaining hooks ran.
 */
export function closeAfterDrain(close: () => unknown, name: string): () => void {
  if (typeof close !== 'function') throw new InvalidOptionError('close', 'a function', close);
  if (typeof name !== 'string' || name === '') throw new InvalidOptionError('name', 'a non-empty string', name);
  const runtime = getRuntime();
  let closing: Promise<unknown> | undefined;
  const uninstall = runtime.addShutdownHook(() => (closing ??= Promise.resolve(close())), { name });
  return () => {
    if (!isDrainingState(runtime.state)) uninstall();
  };
}
