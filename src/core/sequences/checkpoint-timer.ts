// When checkpoints happen: every interval, jittered, one at a time. What one does is passed in
// (start runs the `checkpoint` command, checkpoint-process.ts), which keeps what it needs between
// ticks itself (its fingerprint file).

export interface Checkpointer {
  /**
   * No checkpoint starts after this, and one running now is aborted: what it fetched predates the
   * stop, and its snapshot must not land after the one shutdown posts.
   */
  stop(): void;
}

export interface CheckpointTimerOptions {
  intervalMs: number;
  /** One checkpoint, given a signal that aborts it at stop(). Never rejects. */
  run(stopped: AbortSignal): Promise<void>;
  /** Randomness for the jitter; tests may fix it. */
  random?: () => number;
}

/** How long one checkpoint may take: its interval, within 1 to 30 seconds. */
export function checkpointBudgetMs(intervalMs: number): number {
  return Math.max(1000, Math.min(intervalMs, 30_000));
}

export function startCheckpoints(o: CheckpointTimerOptions): Checkpointer {
  const stopped = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // The next checkpoint is scheduled once this one ends, so two never overlap. Each period is
  // jittered by up to a quarter, so a fleet started together does not post in lockstep all day.
  const random = o.random ?? Math.random;
  const schedule = () => {
    if (stopped.signal.aborted) return;
    timer = setTimeout(
      async () => {
        await o.run(stopped.signal);
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
