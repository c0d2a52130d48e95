// For TypeScript's node10 module resolution ("moduleResolution": "node"), which ignores package.json "exports" and
// looks for `@zero-downtime/verify/load` as a file at the package root. Every other resolution reads "exports".
export * from './dist/load.cjs';
