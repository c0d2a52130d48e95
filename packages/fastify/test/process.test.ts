import { fileURLToPath } from 'node:url';
import { afterEach, describe, it } from 'vitest';
import { killTracked } from '../../../test/lib/processes.js';
import { expectCleanSigtermRun, runUnderSigterm } from '../../../test/lib/standalone.js';

const fixture = fileURLToPath(new URL('./fixtures/server.mjs', import.meta.url));

afterEach(() => killTracked());

describe('a Fastify app standalone under SIGTERM', () => {
  it('answers every request keep-alive clients sent, runs onClose after the last one, exits 0', async () => {
    const run = await runUnderSigterm(fixture);

    expectCleanSigtermRun(run);
  });
});
