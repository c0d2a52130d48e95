import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', worker: 'src/worker/index.ts', cli: 'src/cli.ts', preload: 'src/preload.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts', worker: 'src/worker/index.ts' } },
  target: 'node20',
  platform: 'node',
  clean: true,
  sourcemap: true,
  splitting: false,
  shims: true,
});
