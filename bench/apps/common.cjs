// Shared by every bench app so that each system serves exactly the same thing.
'use strict';
const { readFileSync, appendFileSync } = require('node:fs');

/**
 * The bench deploys a "release" by writing its name to BENCH_RELEASE_FILE before a
 * reload; a worker reads it at boot. Release "bad" throws at boot like a release
 * with a missing configuration value would.
 */
function bootRelease() {
  const file = process.env.BENCH_RELEASE_FILE;
  const release = file ? readFileSync(file, 'utf8').trim() : 'good';
  if (release === 'bad') throw new Error('this release cannot boot: DATABASE_URL is not set');
  return release;
}

/** Appends a line the bench watches to time how long a replacement takes to become ready. */
function announceReady() {
  const file = process.env.BENCH_EVENTS_FILE;
  if (file) appendFileSync(file, `${JSON.stringify({ event: 'ready', pid: process.pid, at: Date.now() })}\n`);
}

function port() {
  return Number(process.env.PORT ?? 3000);
}

module.exports = { bootRelease, announceReady, port };
