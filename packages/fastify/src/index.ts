import type { FastifyPluginAsync } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import {
  closeAfterDrain,
  configure,
  healthResponse,
  isDraining,
  manageServer,
  shutdown,
  InvalidOptionError,
  HEALTH_PATH_DEFAULTS,
  resolveHealthPaths,
  type DrainReport,
  type HealthPathOptions,
  type WorkerOptions,
} from '@zero-downtime/core/worker';

export const PLUGIN_NAME = '@zero-downtime/fastify';

/**
 * Options of the plugin: every worker option of `@zero-downtime/core/worker`
 * (passed to its `configure()`, which validates them) plus the health routes.
 */
export interface ZeroDowntimeFastifyOptions extends WorkerOptions, HealthPathOptions {}

/** `fastify.zeroDowntime`: the drain as seen from the app. */
export interface ZeroDowntimeDecorator {
  /** True from the instant the drain starts (readiness answers 503 from then on). */
  isDraining(): boolean;
  /**
   * Starts the drain by hand, as SIGTERM would: stop listening, finish in-flight requests,
   * then `fastify.close()` (your onClose hooks), then exit unless `exit: false`.
   * Idempotent: every call returns the same promise.
   */
  shutdown(reason?: string): Promise<DrainReport>;
}

declare module 'fastify' {
  interface FastifyInstance {
    zeroDowntime: ZeroDowntimeDecorator;
  }
}

export const DEFAULTS = HEALTH_PATH_DEFAULTS;

export interface ResolvedFastifyOptions extends Required<HealthPathOptions> {
  worker: WorkerOptions;
}

// Fastify's register() hands its own options (prefix, logLevel...) to the plugin too;
// they are not ours to validate nor core's.
const FASTIFY_REGISTER_OPTIONS = new Set(['prefix', 'logLevel', 'logSerializers']);

export function resolveOptions(options: ZeroDowntimeFastifyOptions = {}): ResolvedFastifyOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object', options);
  }
  const { readinessPath, livenessPath, ...rest } = options;
  const worker: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) {
    if (!FASTIFY_REGISTER_OPTIONS.has(key)) worker[key] = value;
  }
  const resolved = {
    ...resolveHealthPaths({ readinessPath, livenessPath }),
    worker: worker as WorkerOptions,
  };
  return resolved;
}

const plugin: FastifyPluginAsync<ZeroDowntimeFastifyOptions> = async (fastify, options) => {
  const resolved = resolveOptions(options);
  configure({ logger: fastify.log, ...resolved.worker });

  fastify.decorate('zeroDowntime', { isDraining, shutdown } satisfies ZeroDowntimeDecorator);

  // No onRequest or onSend hook: core marks every response Connection: close from the drain's start on, at node's
  // request start, before Fastify sees the request (hijacked replies included). An app pays nothing per request.

  for (const [kind, path] of [
    ['readiness', resolved.readinessPath],
    ['liveness', resolved.livenessPath],
  ] as const) {
    if (path === false) continue;
    fastify.get(path, async (_request, reply) => {
      const health = healthResponse(kind);
      return reply.code(health.status).send(health.body);
    });
  }

  // Managing the server only once it listens: an app exercised with inject() has nothing to drain.
  fastify.addHook('onListen', (done) => {
    manageServer(fastify.server);
    done();
  });

  // fastify.close() answers 503 to every request still arriving on a keep-alive socket
  // (return503OnClosing) and then runs the onClose hooks (database pools...): it runs after the
  // HTTP drain, so it sees no request and the pools close after the last response.
  const fastifyClosing = closeAfterDrain(() => fastify.close(), `${PLUGIN_NAME}: fastify.close()`);
  fastify.addHook('onClose', (_instance, done) => {
    fastifyClosing();
    done();
  });
};

/** `app.register(zeroDowntime, options)`. */
export const zeroDowntime = fastifyPlugin(plugin, { fastify: '5.x', name: PLUGIN_NAME });
export default zeroDowntime;
