import { defineConfig } from 'tsup';

// One CommonJS build (+ .d.cts); entry/index.mjs gives ESM users named exports of that same
// build, so a process never holds two copies of leaderlink's per-process state.
export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli.ts', internal: 'src/internal.ts', otel: 'src/otel.ts' },
  format: ['cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node18',
  outExtension: () => ({ js: '.cjs' }),
});
