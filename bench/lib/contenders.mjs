// Which systems this run can compare, found once at the start: the supervisor and each adapter count only when their
// built package is there (nothing is faked), and the list of systems the scenarios 1 to 3 take in turn.
import path from 'node:path';
import { run } from '@zero-downtime/testkit';
import { appsDir, bareCluster, benchDir, pm2Cluster, zdtSupervisor } from './systems.mjs';

export const apps = {
  plain: path.join(appsDir, 'plain.cjs'),
  'node:http': path.join(appsDir, 'plain.cjs'),
  express: path.join(appsDir, 'express.mjs'),
  fastify: path.join(appsDir, 'fastify.mjs'),
  nest: path.join(appsDir, 'nest.mjs'),
};

export const FRAMEWORKS = ['node:http', 'express', 'fastify', 'nest'];

/** The supervisor row exists only when the real supervisor is built: nothing is faked. */
async function supervisorAvailable() {
  try {
    const core = await import('@zero-downtime/core');
    return typeof core.Supervisor === 'function';
  } catch {
    return false;
  }
}

/**
 * An adapter counts as available when its built package exports something. Checked
 * in a child process: loading an adapter loads core's worker side, which would
 * install its signal and exception handlers in this process.
 */
async function adapterAvailable(framework) {
  const probe = `import('@zero-downtime/${framework}').then((m) => process.exit(Object.keys(m).length ? 0 : 1), () => process.exit(1))`;
  return (await run(process.execPath, ['-e', probe], { cwd: benchDir })).code === 0;
}

/** What this build offers: { hasSupervisor, adapters, integrationAvailable(framework) }. */
export async function findContenders(systems, progress) {
  const hasSupervisor = systems.has('zdt') && (await supervisorAvailable());
  const adapters = {};
  for (const framework of ['express', 'fastify', 'nest']) adapters[framework] = hasSupervisor && (await adapterAvailable(framework));
  if (!hasSupervisor && systems.has('zdt')) progress('! @zero-downtime/core has no Supervisor yet: its rows are left out');
  /** node:http needs only core's worker side; the frameworks need their adapter built. */
  const integrationAvailable = (framework) => (framework === 'node:http' ? hasSupervisor : adapters[framework]);
  return { hasSupervisor, adapters, integrationAvailable };
}

/** The systems of scenarios 1 to 3: zero-downtime with each integration (batch 1 and 2), a bare cluster, PM2. */
export function rolloutSystems(ctx) {
  const { settings, systems, integrationAvailable } = ctx;
  const list = [];
  for (const framework of FRAMEWORKS) {
    if (!integrationAvailable(framework)) continue;
    const env = { BENCH_ADAPTER: '1' };
    for (const batchSize of [1, 2]) {
      const label = `zero-downtime + ${framework}${batchSize > 1 ? `, batch ${batchSize}` : ''}`;
      list.push({
        label,
        key: `zdt-${framework.replace(':', '-')}${batchSize > 1 ? `-batch${batchSize}` : ''}`,
        app: apps[framework],
        env,
        batchSize,
        // The rollout scenario only: the others need one row per framework.
        rolloutOnly: batchSize > 1,
        make: (port) =>
          zdtSupervisor({ name: label, app: apps[framework], workers: settings.workers, port, env, drainTimeoutMs: settings.killTimeoutMs, batchSize }),
      });
    }
  }
  if (systems.has('bare')) {
    list.push({
      label: 'bare node:cluster',
      key: 'bare',
      app: apps.plain,
      env: {},
      make: (port) => bareCluster({ app: apps.plain, workers: settings.workers, port, killTimeoutMs: settings.killTimeoutMs }),
    });
  }
  if (systems.has('pm2')) {
    list.push({
      label: 'PM2 reload',
      key: 'pm2',
      app: apps.plain,
      env: { BENCH_PM2_GRACEFUL: '1' },
      make: (port) => pm2Cluster({ app: apps.plain, workers: settings.workers, port, killTimeoutMs: settings.killTimeoutMs }),
    });
  }
  return list;
}
