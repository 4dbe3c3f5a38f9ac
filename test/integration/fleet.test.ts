// A fleet stopping at once (issue #16): many workspaces run `shutdown` at the same moment against
// one coderd that stores only a few snapshots at a time and refuses the rest with 503 and
// Retry-After, as a load balancer in front of a busy coderd does. Every snapshot must land within
// the budget, and the retries must spread out rather than come back in identical waves.

import { afterEach, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../support/fleet.js';
import { run } from '../support/harness.js';

const FLEET = 12;
let fleet: Fleet | undefined;

afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

function spread(values: number[]): { std: number; range: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { std, range: Math.max(...values) - Math.min(...values) };
}

describe('a fleet stopping at once', () => {
  it(`${FLEET} workspaces against a coderd that stores 2 at a time: every snapshot lands, retries spread out`, async () => {
    // Gathered: on a loaded machine the twelve processes start over seconds, and only a few
    // would meet the limit at once, too few to measure the retries' spread.
    fleet = await startFleet(FLEET, 2, 6, { gather: true });
    const { coderd, tasks, works, sims, env } = fleet;
    const started = Date.now();
    const results = await Promise.all(
      tasks.map((task, i) =>
        run(
          [
            'shutdown',
            '--task-id',
            task,
            '--pid-file',
            works[i].pidFile,
            '--port',
            String(sims[i].port),
            '--json',
          ],
          { env },
        ),
      ),
    );
    const tookMs = Date.now() - started;

    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const reports = results.map((r) => JSON.parse(r.stdout));
    const stored = reports.filter(
      (r) => r.steps.find((s: { step: string }) => s.step === 'snapshot').outcome === 'stored',
    );
    expect(stored, results.map((r) => r.stderr).join('\n')).toHaveLength(FLEET);
    expect(coderd.stored.size).toBe(FLEET);
    for (const sim of sims) expect(await sim.exited).toEqual({ code: 0, signal: null });
    expect(tookMs).toBeLessThan(30_000);
    expect(coderd.peakConcurrency()).toBeLessThanOrEqual(2);
    // Some had to retry, and say so in their report.
    const retried = reports.filter((r) => r.snapshot.attempts > 1);
    expect(retried.length).toBeGreaterThan(0);
    expect(retried[0].snapshot.lastRefusal).toMatch(/HTTP 503, Retry-After 1\.0s/);

    // When each workspace came back after its first refusal, measured from that refusal: the
    // Retry-After (1 s) plus jitter, so no two waves are identical. Without jitter every one of
    // them would be 1000 ms apart from its refusal, give or take a few ms of scheduling. (A few
    // ms under 1000 are clock rounding between two processes, not an early retry.)
    const comeback: number[] = [];
    for (const task of tasks) {
      const attempts = coderd.received.filter((r) => r.path.includes(task));
      if (attempts.length > 1) comeback.push(attempts[1].at - attempts[0].answeredAt);
    }
    expect(comeback.length).toBeGreaterThanOrEqual(FLEET - 2);
    for (const ms of comeback) expect(ms).toBeGreaterThanOrEqual(995);
    const { std, range } = spread(comeback);
    expect(std, JSON.stringify(comeback)).toBeGreaterThan(25);
    expect(range, JSON.stringify(comeback)).toBeGreaterThan(80);
  });
});
