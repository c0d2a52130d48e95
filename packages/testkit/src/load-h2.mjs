// The HTTP/2 load client lives in the product (`@zero-downtime/core/load`); see load.mjs.
export { startH2Load } from '@zero-downtime/core/load';
