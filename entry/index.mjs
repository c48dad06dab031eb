// ESM entry: the names and values of the CommonJS entry, so both share one build (no
// dual-package state). Node finds the names through the re-export hint in index.cjs.
export * from './index.cjs';
export { default } from './index.cjs';
