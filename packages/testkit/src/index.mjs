// @zero-downtime/testkit: one load client, one set of process helpers, the CLI as a user runs it.
export * from './load.mjs';
export * from './load-h2.mjs';
export * from './ledger-pipeline.mjs';
export * from './processes.mjs';
export * from './request.mjs';
export * from './zdt.mjs';
