// When checkpoints happen: every interval, jittered, one at a time. What one does is passed in
// (checkpoint.ts in-process, or a process of its own from the resident supervisor), with the
// fingerprint of the last one, so that nothing is saved or posted twice.

export interface Checkpointer {
  /** No checkpoint starts after this, even if one is running now. */
  stop(): void;
}

export interface CheckpointTimerOptions {
  intervalMs: number;
  /** One checkpoint, given the last one's fingerprint; resolves to the new one. Never rejects. */
  run(last: string | undefined): Promise<string | undefined>;
  /** Randomness for the jitter; tests may fix it. */
  random?: () => number;
}

/** How long one checkpoint may take: its interval, within 1 to 30 seconds. */
export function checkpointBudgetMs(intervalMs: number): number {
  return Math.max(1000, Math.min(intervalMs, 30_000));
}

export function startCheckpoints(o: CheckpointTimerOptions): Checkpointer {
  let last: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // The next checkpoint is scheduled once this one ends, so two never overlap. Each period is
  // jittered by up to a quarter, so a fleet started together does not post in lockstep all day.
  const random = o.random ?? Math.random;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      async () => {
        last = await o.run(last);
        schedule();
      },
      o.intervalMs * (0.75 + 0.5 * random()),
    );
    timer.unref();
  };
  schedule();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
