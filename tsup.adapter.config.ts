import { defineConfig } from 'tsup';

/** The build every adapter shares: one entry, ESM and CommonJS with their own type declarations. */
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  target: 'node20',
  platform: 'node',
  clean: true,
  sourcemap: true,
});
