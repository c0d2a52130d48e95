// The app one pod runs: Fastify with the zero-downtime plugin. Its drain settings come from the environment so the
// Deployment holds every number that must agree (deployment.yaml writes out the arithmetic):
//   SHUTDOWN_DELAY_MS   readiness answers 503 this long before listening stops (alone only; skipped under zdt)
//   DRAIN_TIMEOUT_MS    longest drain, counted from SIGTERM and including the delay (under zdt: --drain-timeout)
//   CLEANUP_TIMEOUT_MS  bound of the cleanup (fastify.close() and its onClose hooks)
import Fastify from 'fastify';
import zeroDowntime from '@zero-downtime/fastify';

/** Each drain option and the environment variable that sets it; an unset variable leaves the plugin's default. */
const drainVariables = { shutdownDelayMs: 'SHUTDOWN_DELAY_MS', drainTimeoutMs: 'DRAIN_TIMEOUT_MS', cleanupTimeoutMs: 'CLEANUP_TIMEOUT_MS' };
const drainOptions = Object.fromEntries(
  Object.entries(drainVariables)
    .filter(([, variable]) => process.env[variable])
    .map(([option, variable]) => [option, Number(process.env[variable])]),
);

const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } });

await app.register(zeroDowntime, {
  readinessPath: '/ready', // the readinessProbe's path
  livenessPath: '/live', //   the livenessProbe's path: stays 200 while draining, so a draining pod is not restarted
  ...drainOptions,
});

app.get('/ping', async () => ({ pid: process.pid }));
app.post('/echo', async (request) => ({ data: request.body.data, pid: process.pid }));

// Your database pool and queues close here: after the last response, never under a request still using them.
app.addHook('onClose', async () => {
  app.log.info('cleanup after the last request');
});

// 0.0.0.0 in a container: the kubelet's probes and the Service reach the pod's IP, not its loopback.
await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '0.0.0.0' });
