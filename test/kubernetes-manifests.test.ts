/**
 * examples/kubernetes: the manifests are valid YAML with the fields docs/guides/kubernetes.md names, their
 * numbers agree with each other and with the options they set (the termination grace covers the delay or preStop, the
 * drain and the cleanup; the readiness probe notices a draining pod within the delay), the Dockerfile runs a non-root
 * user under tini, and the example app, started with a manifest's own settings, serves the probes' paths, keeps
 * listening with readiness 503 through its delay after SIGTERM, and exits 0; zdt starts with the other manifest's
 * arguments and stops cleanly on SIGTERM.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { cleanUp, freePort, get, startProcess, waitFor, waitForHttp, zdtStart } from '@zero-downtime/testkit';

const example = fileURLToPath(new URL('../examples/kubernetes/', import.meta.url));
const docs = readFileSync(fileURLToPath(new URL('../docs/guides/kubernetes.md', import.meta.url)), 'utf8');

/** Manifests are untyped YAML: the assertions are their types. */
interface Manifest {
  deployment: any;
  service: any;
  container: any;
  env: Record<string, string>;
}

function load(file: string): Manifest {
  const documents = parseAllDocuments(readFileSync(path.join(example, file), 'utf8'));
  for (const document of documents) expect(document.errors, `${file}: ${document.errors.join('\n')}`).toEqual([]);
  const objects = documents.map((document) => document.toJS());
  const deployment = objects.find((object) => object.kind === 'Deployment');
  const service = objects.find((object) => object.kind === 'Service');
  expect(deployment, `${file} has a Deployment`).toBeDefined();
  expect(service, `${file} has a Service`).toBeDefined();
  const container = deployment.spec.template.spec.containers[0];
  const env = Object.fromEntries((container.env ?? []).map(({ name, value }: { name: string; value: string }) => [name, value]));
  return { deployment, service, container, env };
}

/** zdt's DUR: `500ms`, `20s`, `2m`, or plain milliseconds. */
function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m)?$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * { ms: 1, s: 1_000, m: 60_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm'];
}

/** The value after `flag` in an argument list. */
function flag(args: string[], name: string): string {
  const index = args.indexOf(name);
  expect(index, `${name} in ${args.join(' ')}`).toBeGreaterThan(-1);
  return args[index + 1]!;
}

/** Seconds for a pod that stopped serving to be seen as not ready: a check every period, failureThreshold in a row. */
const readinessDetectionSeconds = (container: any) => container.readinessProbe.periodSeconds * container.readinessProbe.failureThreshold;

/** The row of the docs' settings table for `setting`. */
function docsRow(setting: string): string {
  const row = docs.split('\n').find((line) => line.startsWith(`| ${setting} `));
  expect(row, `docs/guides/kubernetes.md has a row for ${setting}`).toBeDefined();
  return row!;
}

const alone = load('deployment.yaml');
const supervised = load('deployment-zdt.yaml');

afterEach(() => cleanUp());

describe.each([
  ['deployment.yaml', alone],
  ['deployment-zdt.yaml', supervised],
] as const)('examples/kubernetes/%s', (_file, { deployment, service, container }) => {
  it('rolls start-first, probes the adapter paths, runs as non-root under the image entrypoint, and the Service reaches it', () => {
    expect(deployment.apiVersion).toBe('apps/v1');
    expect(deployment.spec.strategy).toMatchObject({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } });
    expect(deployment.spec.strategy.rollingUpdate.maxSurge).toBeGreaterThanOrEqual(1);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);

    const port = container.ports.find((candidate: any) => candidate.name === service.spec.ports[0].targetPort);
    expect(port, 'the Service targets a named container port').toBeDefined();
    expect(container.env).toContainEqual({ name: 'PORT', value: String(port.containerPort) });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/ready', port: port.name });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/live', port: port.name });
    // Liveness gives a pod far longer than readiness before acting: a busy pod is taken out of rotation, not killed.
    expect(container.livenessProbe.periodSeconds * container.livenessProbe.failureThreshold).toBeGreaterThan(readinessDetectionSeconds(container));

    // `command` would replace the image's ENTRYPOINT (tini) and lose signal forwarding and reaping.
    expect(container.command).toBeUndefined();
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false });
  });
});

describe('the numbers agree', () => {
  it('the app alone: readiness is noticed within the delay; the drain holds the delay; the grace holds drain + cleanup + 1 s', () => {
    const { deployment, container, env } = alone;
    const delayMs = Number(env.SHUTDOWN_DELAY_MS);
    const drainMs = Number(env.DRAIN_TIMEOUT_MS);
    const cleanupMs = Number(env.CLEANUP_TIMEOUT_MS);
    const graceSeconds = deployment.spec.template.spec.terminationGracePeriodSeconds;

    expect(readinessDetectionSeconds(container) * 1_000).toBeLessThanOrEqual(delayMs);
    // The drain limit counts from SIGTERM and includes the delay: requests in flight need time after it.
    expect(drainMs).toBeGreaterThan(delayMs);
    // The app exits 1 s at most after its cleanup; the kubelet's SIGKILL must come later.
    expect(graceSeconds * 1_000).toBeGreaterThanOrEqual(drainMs + cleanupMs + 1_000);
    // The delay does what a preStop sleep would; both would add up.
    expect(container.lifecycle?.preStop).toBeUndefined();

    expect(docsRow('`SHUTDOWN_DELAY_MS`')).toContain(String(delayMs));
    expect(docsRow('`DRAIN_TIMEOUT_MS`')).toContain(String(drainMs));
    expect(docsRow('`terminationGracePeriodSeconds`')).toContain(`${graceSeconds} ≥`);
  });

  it('zdt in the pod: the preStop sleep covers the readiness detection; the grace holds preStop + drain + cleanup + 1 s', () => {
    const { deployment, container, env } = supervised;
    const args: string[] = container.args;
    expect(args.slice(0, 3)).toEqual(['node_modules/.bin/zdt', 'start', 'app.mjs']);
    const drainMs = durationMs(flag(args, '--drain-timeout'));
    const cleanupMs = durationMs(flag(args, '--cleanup-timeout'));
    const preStopSeconds = container.lifecycle.preStop.sleep.seconds;
    const graceSeconds = deployment.spec.template.spec.terminationGracePeriodSeconds;

    expect(preStopSeconds).toBeGreaterThanOrEqual(readinessDetectionSeconds(container));
    // zdt SIGKILLs a worker 1 s after drain + cleanup; terminationGracePeriodSeconds counts preStop too.
    expect(graceSeconds * 1_000).toBeGreaterThanOrEqual(preStopSeconds * 1_000 + drainMs + cleanupMs + 1_000);
    // shutdownDelayMs is skipped in cluster workers: setting it here would only mislead.
    expect(env.SHUTDOWN_DELAY_MS).toBeUndefined();
    // A core per worker.
    expect(Number(container.resources.requests.cpu)).toBe(Number(flag(args, '--workers')));

    expect(docsRow('`preStop` sleep')).toContain(`${preStopSeconds} s`);
    expect(docsRow('`terminationGracePeriodSeconds`')).toContain(`${graceSeconds} ≥`);
  });

  it('the Dockerfile: a non-root numeric user, tini as entrypoint, the port the manifests use', () => {
    const dockerfile = readFileSync(path.join(example, 'Dockerfile'), 'utf8');
    const instruction = (name: string) => dockerfile.split('\n').find((line) => line.startsWith(`${name} `))?.slice(name.length + 1);
    const user = instruction('USER')!;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(JSON.parse(instruction('ENTRYPOINT')!)).toEqual(['/usr/bin/tini', '--']);
    expect(JSON.parse(instruction('CMD')!)).toEqual(['node', 'app.mjs']);
    for (const { container } of [alone, supervised]) expect(instruction('EXPOSE')).toBe(String(container.ports[0].containerPort));
  });
});

describe('the example app runs with the manifests settings', () => {
  it('alone: serves the probe paths; after SIGTERM keeps listening with readiness 503 and liveness 200, then exits 0', async () => {
    const port = await freePort();
    const app = startProcess(process.execPath, ['app.mjs'], {
      cwd: example,
      env: { ...process.env, ...alone.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      what: 'examples/kubernetes app.mjs',
    });
    await waitForHttp(port, { path: '/ready', timeoutMs: 30_000 });
    expect(await get(port, '/live')).toMatchObject({ status: 200 });

    app.child.kill('SIGTERM');
    // During the delay: new connections are still accepted (a balancer that has not noticed yet is served), readiness
    // says draining, liveness says alive.
    const draining = await waitFor(async () => {
      const reply = await get(port, '/ready');
      return reply.status === 503 && reply;
    }, 'readiness to answer 503 after SIGTERM');
    expect(draining.body).toBe('{"status":"draining"}');
    expect(await get(port, '/live')).toMatchObject({ status: 200 });
    expect(await get(port, '/ping')).toMatchObject({ status: 200 });
    expect(await app.exited, app.output.join('\n')).toEqual({ code: 0, signal: null });
  });

  it('under zdt with the arguments of deployment-zdt.yaml: serves the probe paths, stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'zdt-kubernetes-'));
    try {
      const args: string[] = supervised.container.args.slice(2);
      const supervisor = zdtStart([...args, '--control', path.join(dir, 'zdt.sock')], {
        cwd: example,
        env: { ...supervised.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      });
      await Promise.race([
        waitForHttp(port, { path: '/ready', timeoutMs: 30_000 }),
        supervisor.exited.then(({ code }) => {
          throw new Error(`zdt start exited with ${code}:\n${supervisor.output.join('\n')}`);
        }),
      ]);
      expect(await get(port, '/live')).toMatchObject({ status: 200 });
      supervisor.child.kill('SIGTERM');
      expect(await supervisor.exited, supervisor.output.join('\n')).toEqual({ code: 0, signal: null });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
