// The unit tests alone: what mutation testing runs (StrykerJS, stryker.config.json). The
// integration tests run the compiled binary, which mutants of the sources never reach.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
  },
});
