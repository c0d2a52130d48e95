/**
 * `@zero-downtime/verify/load`: the load clients `zdt verify` drives at an app while it deploys, and that this project's
 * own tests and benchmark use. Each counts answered and failed requests by the reason the client saw, checks every
 * answer against its route, and retries only what its protocol declares safe to retry (counted apart).
 */
export { CONTRACT_ROUTES, answerBreach, contractBreach, echoData, pidIn, routeFor, waitForCompleted, type FailureRecord, type Route } from './routes.js';
export { type LoadProgress, type RunningLoad } from './tally.js';
export { BUCKET_MS, latencyIn, startLoad, type Load, type LoadOptions, type LoadSummary } from './http1.js';
export { pipelinableRoutes, startPipelinedLoad, type PipelinedLoad, type PipelinedLoadOptions, type PipelinedLoadSummary } from './pipelined.js';
export { startFetchLoad, type FetchLoad, type FetchLoadOptions, type FetchLoadSummary } from './fetch.js';
export { startH2Load, type H2Load, type H2LoadOptions, type H2LoadSummary } from './http2.js';
export { measureThroughput, type ThroughputOptions } from './throughput.js';
export { get, pidOf, request, type Reply, type RequestOptions } from './request.js';
export { requestBytes, takeResponses, type WireResponse } from './wire.js';
export { type LongLivedLoad, type LongLivedOptions, type LongLivedSummary } from './long-lived.js';
export { PROPER_CLOSE_CODES, properCloseCodes, startWebSocketLoad } from './websocket.js';
export { startEventStreamLoad } from './event-stream.js';
