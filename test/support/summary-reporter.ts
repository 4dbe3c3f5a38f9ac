// Prints the closing line CI reads, exactly "N passed, N failed", alone on the last line; skipped
// tests (e.g. the root-only ones) are counted on the line before it, never in it.
// A module that failed to load counts as a failure, so a broken file cannot pass silently.

import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const module of modules) {
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) failed++;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
    }
    if (skipped) process.stdout.write(`\n${skipped} skipped`);
    process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  }
}
