import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The suite's own secret directory, never the runner's ~/.leaderlink (see the file).
    globalSetup: ['test/setup/secret-dir.ts', 'test/setup/port-leases.ts'],
    // Multi-process tests fork real processes; a loaded 2-core machine needs generous limits.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Files run one at a time: several of them compete for real loopback ports and CPU.
    fileParallelism: false,
  },
});
