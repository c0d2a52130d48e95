// The load clients are part of the product (`@zero-downtime/verify/load`, what `zdt verify` drives); the tests, the
// bench and the demo import them through here, so there is one implementation.
export {
  BUCKET_MS,
  CONTRACT_ROUTES,
  contractBreach,
  latencyIn,
  measureThroughput,
  startFetchLoad,
  startLoad,
  startPipelinedLoad,
  waitForCompleted,
} from '@zero-downtime/verify/load';
