/**
 * Pipelined requests through rolling restarts: the drain answers every request the app processed. Raw-TCP clients
 * pipeline batches of 4 POSTs on 8 connections; the app appends each request's id to a ledger before answering.
 * After 3 `zdt reload`s, every id the app wrote to its ledger must have been answered: a request processed but never
 * answered is the one outcome a client cannot recover from (it cannot know the POST happened). Ids the app never saw
 * may go unanswered (the connection closed after an answer saying `Connection: close`; RFC 9112 9.3.2 lets the
 * client send them again): the test prints how many.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killTracked, startLedgerPipeline, zdt, zdtStart } from '@zero-downtime/testkit';
import { reloadAndCheck } from './lib/rollout.js';
import { cells } from './lib/tier.js';

const ROLLOUTS = 3;
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/ledger/${name}`, import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-pipelined-'));
const figures: string[] = [];

afterEach(() => killTracked());
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\npipelined POSTs (8 connections x 4), ${ROLLOUTS} rolling restarts, 2 workers:\n${figures.join('\n')}`);
});

describe('pipelined requests through rolling restarts', () => {
  for (const { name, entry } of cells([
    { name: 'plain node:http (unmodified, zero-line)', entry: fixture('plain.cjs') },
    { name: 'fastify 5 with the plugin', entry: fixture('fastify.mjs') },
    { name: 'express 5 with the middleware', entry: fixture('express.mjs') },
    { name: 'nest 11 on express with the module', entry: fixture('nest.mjs') },
  ], (cell) => !cell.name.startsWith('express') && !cell.name.startsWith('nest'))) {
    it(`${name}: every request the app processed is answered`, async () => {
      const ledger = path.join(scratch, `${figures.length}-${Date.now()}.ledger`);
      writeFileSync(ledger, '');
      const control = path.join(scratch, `${Date.now()}.sock`);
      const running = zdtStart([entry, '--workers', '2', '--control', control], { env: { LEDGER: ledger } });
      await running.waitForLine(/supervisor pid \d+ running/);
      const load = startLedgerPipeline({ port: running.port(), connections: 8, depth: 4 });
      await load.waitForAnswers(200);
      for (let rollout = 1; rollout <= ROLLOUTS; rollout++) {
        await reloadAndCheck(control, rollout);
        await load.waitForAnswers(200);
      }
      const totals = await load.stop();
      expect((await zdt(['stop', '--control', control])).code).toBe(0);
      expect(await running.exited).toEqual({ code: 0, signal: null });

      const processed = new Set(readFileSync(ledger, 'utf8').split('\n').filter(Boolean));
      const processedUnanswered = totals.unanswered.filter((id) => processed.has(id));
      const neverProcessed = totals.unanswered.length - processedUnanswered.length;
      figures.push(
        `${name}: ${totals.sent} sent, ${totals.answered} answered, ${processedUnanswered.length} processed but never answered, ` +
          `${neverProcessed} never processed (closed unread), ${totals.closedByServer} connections closed without Connection: close`,
      );
      expect(totals.wrongAnswers).toBe(0);
      expect(totals.errors).toEqual({});
      expect(processedUnanswered).toEqual([]);
      // Every id answered was processed: the ledger is complete.
      expect(totals.answered + totals.unanswered.length).toBe(totals.sent);
    });
  }
});
