// When checkpoints happen: every interval, jittered, one at a time. What one does is passed in
// (checkpoint.ts in-process, or a process of its own from the resident supervisor), with the
// fingerprint of the last one, so that nothing is saved or posted twice.

export interface Checkpointer {
  /**
   * No checkpoint starts after this, and one running now is aborted: what it fetched predates the
   * stop, and its snapshot must not land after the one shutdown posts.
   */
  stop(): void;
}

export interface CheckpointTimerOptions {
  intervalMs: number;
  /**
   * One checkpoint, given the last one's fingerprint and a signal that aborts it at stop();
   * resolves to the new fingerprint. Never rejects.
   */
  run(last: string | undefined, stopped: AbortSignal): Promise<string | undefined>;
  /** Randomness for the jitter; tests may fix it. */
  random?: () => number;
}

/** How long one checkpoint may take: its interval, within 1 to 30 seconds. */
export function checkpointBudgetMs(intervalMs: number): number {
  return Math.max(1000, Math.min(intervalMs, 30_000));
}

export function startCheckpoints(o: CheckpointTimerOptions): Checkpointer {
  let last: string | undefined;
  const stopped = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // The next checkpoint is scheduled once this one ends, so two never overlap. Each period is
  // jittered by up to a quarter, so a fleet started together does not post in lockstep all day.
  const random = o.random ?? Math.random;
  const schedule = () => {
    if (stopped.signal.aborted) return;
    timer = setTimeout(
      async () => {
        last = await o.run(last, stopped.signal);
        schedule();
      },
      o.intervalMs * (0.75 + 0.5 * random()),
    );
    timer.unref();
  };
  schedule();
  return {
    stop: () => {
      stopped.abort();
      clearTimeout(timer);
    },
  };
}
