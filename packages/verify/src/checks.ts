/**
 * The setup checks: what `zdt verify` can see of the app's timeouts, against what the user declares about the
 * platform in front of it. Each failing check names its fix.
 */
import http from 'node:http';
import type { Route } from './load/index.js';
import type { VerifyPlan } from './args.js';
import type { StartSettings } from '@zero-downtime/core/tooling';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(3))}s`;

/**
 * The app's idle keep-alive timeout, in seconds: from the Keep-Alive header of an answer (Node's servers send
 * `timeout=<keepAliveTimeout in whole seconds>`), else measured by keeping a connection idle until the server closes
 * it, for at most `upTo` seconds (undefined: still open then). 0: the server closes after every answer.
 */
export async function appKeepAliveSeconds(host: string, port: number, route: Route, upTo: number): Promise<{ seconds: number | undefined; how: string }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    return await new Promise((resolve, reject) => {
      const request = http.request({ host, port, method: route.method === 'HEAD' ? 'HEAD' : 'GET', path: route.path, agent }, (response) => {
        response.resume();
        response.on('end', () => {
          if (response.headers.connection === 'close') return resolve({ seconds: 0, how: 'the answer said Connection: close' });
          const header = /timeout=(\d+)/.exec(String(response.headers['keep-alive'] ?? ''));
          if (header) return resolve({ seconds: Number(header[1]), how: `Keep-Alive: timeout=${header[1]} in the answer` });
          const began = Date.now();
          const timer = setTimeout(() => resolve({ seconds: undefined, how: `an idle connection stayed open ${upTo}s` }), upTo * 1000);
          request.socket?.once('close', () => {
            clearTimeout(timer);
            resolve({ seconds: (Date.now() - began) / 1000, how: 'an idle connection closed by the app' });
          });
        });
      });
      request.on('error', reject);
      request.end();
    });
  } finally {
    agent.destroy();
  }
}

export async function keepAliveCheck(behind: NonNullable<VerifyPlan['behind']>, host: string, port: number, route: Route): Promise<CheckResult> {
  const name = `keepAliveTimeout vs ${behind.name} (${behind.seconds}s)`;
  let measured;
  try {
    measured = await appKeepAliveSeconds(host, port, route, behind.seconds + 1);
  } catch (error) {
    return { name, ok: false, detail: `could not reach the app on ${host}:${port}${route.path}: ${(error as Error).message}` };
  }
  const wanted = Math.ceil(behind.seconds) + 5;
  const fix = `set the server's keepAliveTimeout above the proxy's: server.keepAliveTimeout = ${wanted * 1000}; server.headersTimeout = ${(wanted + 1) * 1000} (headersTimeout must exceed keepAliveTimeout); Express: on the server app.listen() returns; Fastify: the keepAliveTimeout option; Nest: app.getHttpServer()`;
  if (measured.seconds === undefined) return { name, ok: true, detail: `the app keeps idle connections longer than ${behind.seconds}s (${measured.how})` };
  if (measured.seconds > behind.seconds) return { name, ok: true, detail: `the app keeps idle connections ${measured.seconds}s (${measured.how}), more than ${behind.seconds}s` };
  return {
    name,
    ok: false,
    detail: `the app closes idle connections after ${measured.seconds}s (${measured.how}), not after the proxy's ${behind.seconds}s: the proxy can send a request on a connection the app is closing, and answers 502`,
    fix,
  };
}

/** The shutdown delay against the readiness period, and the whole stop against the grace period. */
export function budgetChecks(plan: VerifyPlan, settings: StartSettings): CheckResult[] {
  const results: CheckResult[] = [];
  const delay = plan.shutdownDelayMs ?? 0;
  if (plan.readinessPeriodMs !== undefined) {
    const name = `shutdown delay vs readiness period (${seconds(plan.readinessPeriodMs)})`;
    if (delay >= plan.readinessPeriodMs) {
      results.push({ name, ok: true, detail: `the instance keeps serving ${seconds(delay)} after it is told to stop, while the load balancer takes ${seconds(plan.readinessPeriodMs)} to stop sending` });
    } else {
      results.push({
        name,
        ok: false,
        detail: `the instance stops taking connections ${seconds(delay)} after it is told to stop, but the load balancer keeps sending for ${seconds(plan.readinessPeriodMs)}: those connections are refused`,
        fix: `a preStop sleep of ${Math.ceil(plan.readinessPeriodMs / 1000) + 1}s (under zdt; or shutdownDelayMs: ${plan.readinessPeriodMs + 1000} when the app runs without it), and pass it as --shutdown-delay`,
      });
    }
  }
  if (plan.gracePeriodMs !== undefined) {
    const needed = delay + settings.drainTimeoutMs + settings.cleanupTimeoutMs + 1_000;
    const parts = `shutdown delay ${seconds(delay)} + drain ${seconds(settings.drainTimeoutMs)} + cleanup ${seconds(settings.cleanupTimeoutMs)} + 1s = ${seconds(needed)}`;
    const name = `drain and cleanup vs grace period (${seconds(plan.gracePeriodMs)})`;
    if (plan.gracePeriodMs >= needed) results.push({ name, ok: true, detail: `${parts} fit in it` });
    else {
      results.push({
        name,
        ok: false,
        detail: `${parts} do not fit: Kubernetes kills the pod while requests may still be draining`,
        fix: `terminationGracePeriodSeconds: ${Math.ceil(needed / 1000)}, or a shorter --drain-timeout / --cleanup-timeout`,
      });
    }
  }
  return results;
}
