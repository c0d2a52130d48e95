import { defineConfig } from 'tsup';

/**
 * Two entries, ESM and CommonJS with their own declarations: `.` (verify(), what `zdt verify` runs) and `./load` (the
 * load clients). @zero-downtime/core and ws stay external: the core that runs the app is the one installed.
 */
export default defineConfig({
  entry: { index: 'src/index.ts', load: 'src/load/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  splitting: false,
  shims: true,
});
