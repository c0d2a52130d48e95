/**
 * A build of a one-file app as a deploy would ship it: `app.cjs` answers every request with its release's name and
 * pid, and throws at boot on the worker ids given, the way a flaky dependency breaks some starts and not others.
 * Written into a directory of its own (`zdt deploy` copies it) or over an existing one (a deploy in place).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { get } from '@zero-downtime/testkit';

export function writeBuild(directory: string, release: string, brokenOnWorkers: number[] = []): string {
  mkdirSync(directory, { recursive: true });
  writeFileSync(
    path.join(directory, 'app.cjs'),
    `const http = require('node:http');
if (${JSON.stringify(brokenOnWorkers.map(String))}.includes(process.env.ZDT_WORKER_ID)) throw new Error('release ${release} cannot start worker ' + process.env.ZDT_WORKER_ID);
http.createServer((request, response) => response.end(JSON.stringify({ release: '${release}', pid: process.pid }))).listen(0, '127.0.0.1');
`,
  );
  return directory;
}

/** How many of `requests` fresh requests each release answered. */
export async function releasesAnswering(port: number, requests: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let request = 0; request < requests; request++) {
    const { release } = JSON.parse((await get(port)).body) as { release: string };
    seen[release] = (seen[release] ?? 0) + 1;
  }
  return seen;
}
