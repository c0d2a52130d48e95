import type { Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './options.js';
import type {
  DrainReport,
  DrainStartHook,
  DrainState,
  HealthKind,
  HealthResponse,
  ShutdownHook,
  ShutdownHookOptions,
} from './types.js';

const RUNTIME_KEY = Symbol.for('zero-downtime.worker');

// Placeholder body: the drain lands in the next commits; the surface above is what adapters build against.
export class WorkerRuntime {
  rawOptions: WorkerOptions = {};
  options: ResolvedWorkerOptions = resolveWorkerOptions();
  state: DrainState = 'running';
  private drainPromise: Promise<DrainReport> | undefined;

  applyOptions(raw: WorkerOptions, resolved: ResolvedWorkerOptions): void {
    this.rawOptions = raw;
    this.options = resolved;
  }

  manageServer(_server: HttpServer | HttpsServer): void {}

  ready(): void {}

  addShutdownHook(_hook: ShutdownHook, _options: ShutdownHookOptions): () => void {
    return () => {};
  }

  addDrainStartHook(_hook: DrainStartHook): () => void {
    return () => {};
  }

  shutdown(reason: string): Promise<DrainReport> {
    this.state = 'draining';
    this.drainPromise ??= Promise.resolve({ reason, clean: true, cut: 0, served: 0, durationMs: 0 });
    return this.drainPromise;
  }

  healthResponse(kind: HealthKind): HealthResponse {
    if (kind === 'readiness' && this.state !== 'running') return { status: 503, body: { status: 'draining' } };
    return { status: 200, body: { status: 'ok' } };
  }

  markResponse(_response: ServerResponse): void {}
}

export function getRuntime(): WorkerRuntime {
  const store = globalThis as unknown as Record<symbol, WorkerRuntime | undefined>;
  return (store[RUNTIME_KEY] ??= new WorkerRuntime());
}
