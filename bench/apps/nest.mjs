// NestJS app for the bench: the same route contract as plain.cjs (GET /ping, POST /echo).
// BENCH_ADAPTER=1 imports this project's module; otherwise bare Nest on Express.
import common from './common.cjs';
import { nestApp } from './frameworks.mjs';

common.bootRelease();

const app = await nestApp(process.env.BENCH_ADAPTER === '1');
await app.listen(common.port(), '127.0.0.1');
common.announceReady();
