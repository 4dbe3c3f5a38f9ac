// The unit tests alone: what mutation testing runs for the modules they reach on their own
// (stryker.config.json). The in-process tests of the sequences run for the sequences'
// (vitest.inprocess.config.ts, stryker.sequences.config.json).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
