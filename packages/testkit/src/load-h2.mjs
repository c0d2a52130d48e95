// The HTTP/2 load client lives in the product (`@zero-downtime/verify/load`); see load.mjs.
export { startH2Load } from '@zero-downtime/verify/load';
