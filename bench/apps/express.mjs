// Express app for the bench: the same route contract as plain.cjs (GET /ping, POST /echo).
// BENCH_ADAPTER=1 adds this project's one-line integration; otherwise bare Express.
import common from './common.cjs';
import { expressApp } from './frameworks.mjs';

common.bootRelease();

const app = await expressApp(process.env.BENCH_ADAPTER === '1');
app.listen(common.port(), '127.0.0.1', () => common.announceReady());
