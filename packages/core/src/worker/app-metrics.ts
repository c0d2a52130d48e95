/**
 * The app's own prom-client metrics, read for the supervisor, which sums them over the workers and serves them on
 * its metrics endpoint (what prom-client's AggregatorRegistry does, without code in the primary). Only a prom-client
 * the app has already loaded is read: resolved from the app's entry, looked up in the module cache, never loaded
 * here (loading it would create an empty registry and cost the app memory for nothing).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AppMetric } from '../protocol.js';

interface PromRegistry {
  getMetricsAsJSON(): AppMetric[] | Promise<AppMetric[]>;
}

function loadedPromClient(): PromRegistry | undefined {
  const entry = process.argv[1];
  if (!entry) return undefined;
  try {
    const requireFromApp = createRequire(path.resolve(entry));
    const resolved = requireFromApp.resolve('prom-client');
    if (!requireFromApp.cache[resolved]) return undefined;
    const promClient = requireFromApp(resolved) as { register?: PromRegistry };
    return typeof promClient.register?.getMetricsAsJSON === 'function' ? promClient.register : undefined;
  } catch {
    return undefined;
  }
}

/** The app's metrics as prom-client's JSON, or null when the app does not use prom-client. */
export async function readAppMetrics(): Promise<AppMetric[] | null> {
  const registry = loadedPromClient();
  if (!registry) return null;
  try {
    return await registry.getMetricsAsJSON();
  } catch {
    return null;
  }
}
