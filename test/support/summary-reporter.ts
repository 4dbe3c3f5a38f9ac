// Prints the closing line CI reads, exactly "N passed, N failed", alone on the last line; skipped
// tests (e.g. the root-only ones) are counted on the line before it, never in it.
// A module that failed to load counts as a failure, so a broken file cannot pass silently.
// Each failure is also named with the first line of its error ("FAILED: file > test: message"),
// since a CI page often shows only the last lines of a long run.

import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    const named: string[] = [];
    const name = (where: string, errors: ReadonlyArray<{ message?: string }> | undefined) =>
      named.push(`FAILED: ${where}: ${(errors?.[0]?.message ?? 'no message').split('\n')[0].slice(0, 300)}`);
    for (const module of modules) {
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) {
        failed++;
        name(module.relativeModuleId, module.errors());
      }
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') {
          failed++;
          name(`${module.relativeModuleId} > ${test.fullName}`, result.errors);
        } else skipped++;
      }
    }
    if (named.length) process.stdout.write(`\n${named.join('\n')}`);
    if (skipped) process.stdout.write(`\n${skipped} skipped`);
    process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  }
}
