import { resolve } from 'node:path';
import { defineConfig, type Options } from 'tsup';

const errorsSource = resolve('src/errors.ts');

/**
 * Every entry imports the error catalog from one built module, `dist/errors.cjs`, instead of bundling its own copy:
 * an error thrown by `@zero-downtime/core/worker` is then `instanceof` the class exported by `@zero-downtime/core`,
 * from ESM and CommonJS alike (the ESM entries import the CommonJS module; Node finds its named exports through the
 * annotation esbuild writes for that).
 */
const sharedErrors: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'zero-downtime-shared-errors',
  setup(build) {
    build.onResolve({ filter: /(^|\/)errors\.js$/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      if (resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts') !== errorsSource) return undefined;
      return { path: './errors.cjs', external: true };
    });
  },
};

const common = { target: 'node20', platform: 'node', sourcemap: true, splitting: false, shims: true } satisfies Options;

// `pnpm build` empties dist/ first (see package.json), so no config here cleans: they run side by side.
export default defineConfig([
  {
    ...common,
    // What users import: ESM and CommonJS, each with its own declarations.
    entry: { index: 'src/index.ts', worker: 'src/worker/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    esbuildPlugins: [sharedErrors],
  },
  {
    ...common,
    // Loaded by path only, never imported: the bin launcher requires dist/cli.cjs, and workers are started with
    // `--require dist/preload.cjs`, which requires dist/worker.cjs. No ESM twin, so none ships unused.
    entry: { cli: 'src/cli.ts', preload: 'src/preload.ts' },
    format: ['cjs'],
    esbuildPlugins: [sharedErrors],
  },
  {
    ...common,
    // For @zero-downtime/verify only: CommonJS alone (an ESM import reads its named exports), so the configuration
    // reader it bundles ships once.
    entry: { tooling: 'src/tooling.ts' },
    format: ['cjs'],
    dts: true,
    esbuildPlugins: [sharedErrors],
  },
  {
    ...common,
    entry: { errors: 'src/errors.ts' },
    format: ['cjs'],
  },
]);
