import { fileURLToPath } from 'node:url';
import { afterEach, describe, it } from 'vitest';
import { killTracked } from '../../../test/lib/processes.js';
import { expectCleanSigtermRun, runUnderSigterm } from '../../../test/lib/standalone.js';

const fixture = fileURLToPath(new URL('./fixtures/server.mjs', import.meta.url));

afterEach(() => killTracked());

describe.each(['express', 'fastify'])('a NestJS app on platform-%s standalone under SIGTERM', (platform) => {
  it('answers every request keep-alive clients sent, destroys providers after the last one, exits 0', async () => {
    const run = await runUnderSigterm(fixture, { NEST_PLATFORM: platform });

    expectCleanSigtermRun(run);
  });
});
