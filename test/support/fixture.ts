// One test's world: a temp directory, and the simulator and coderd stand-in it may start,
// all torn down after each test (processes stopped, servers closed, files removed).
import { afterEach, beforeEach } from 'vitest';
import type { Coderd } from './coderd.js';
import { type Sim, type Workdir, workdir } from './harness.js';

export interface Fixture {
  work: Workdir;
  sim?: Sim;
  coderd?: Coderd;
  /** Runs `fn` after the test, before the rest is torn down (e.g. kill a bystander). */
  defer(fn: () => void): void;
}

export function useFixture(): Fixture {
  let deferred: (() => void)[] = [];
  // `work` is set before each test runs.
  const fixture = {
    defer: (fn: () => void) => {
      deferred.push(fn);
    },
  } as unknown as Fixture;
  beforeEach(async () => {
    fixture.work = await workdir();
  });
  afterEach(async () => {
    for (const fn of deferred) fn();
    deferred = [];
    await fixture.sim?.stop();
    await fixture.coderd?.close();
    fixture.sim = undefined;
    fixture.coderd = undefined;
    await fixture.work.cleanup();
  });
  return fixture;
}
