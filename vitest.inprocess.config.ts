// What mutation testing runs for the sequences (stryker.sequences.config.json): the unit tests and
// the in-process tests against the simulator (which start it from dist/sim, so `npm run
// build:test` comes first). Left out: the integration tests, which run the compiled binary that
// mutants of the sources never reach, and test/inprocess/start.test.ts, whose every test waits
// seconds for the real AgentAPI to come up (start's decisions are the integration tests' to prove).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/inprocess/**/*.test.ts'],
    exclude: ['test/inprocess/start.test.ts'],
    testTimeout: 60_000,
  },
});
