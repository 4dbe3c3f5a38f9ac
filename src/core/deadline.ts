// One time budget that every step draws from, so no command outlives its limit.

export class Deadline {
  /** Aborts when the deadline passes or the parent signal aborts. */
  readonly signal: AbortSignal;

  private constructor(
    /** Epoch milliseconds at which the budget runs out. */
    readonly at: number,
    parent?: AbortSignal,
  ) {
    const timeout = AbortSignal.timeout(Math.max(0, at - Date.now()));
    this.signal = parent ? AbortSignal.any([parent, timeout]) : timeout;
  }

  /** A deadline `ms` from now, ended early if `parent` aborts. */
  static in(ms: number, parent?: AbortSignal): Deadline {
    return new Deadline(Date.now() + ms, parent);
  }

  /** Milliseconds left, never negative. */
  remaining(): number {
    return this.signal.aborted ? 0 : Math.max(0, this.at - Date.now());
  }

  get expired(): boolean {
    return this.remaining() === 0;
  }

  /** A sub-budget of at most `ms`, never past this one, ended by `also` too. */
  slice(ms: number, also?: AbortSignal): Deadline {
    const parent = also ? AbortSignal.any([this.signal, also]) : this.signal;
    return new Deadline(Math.min(this.at, Date.now() + Math.max(0, ms)), parent);
  }

  /** Waits `ms` or until the deadline, whichever is first; never throws. */
  wait(ms: number): Promise<void> {
    const wait = Math.min(ms, this.remaining());
    if (wait <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * Polls `check` with a short, growing interval until it returns a value or the deadline ends.
 * Starting at 2 ms keeps a fast event (AgentAPI exits in ~5 ms) from waiting for a long tick.
 */
export async function pollUntil<T>(
  deadline: Deadline,
  check: () => Promise<T | undefined> | T | undefined,
  { firstMs = 2, maxMs = 25 } = {},
): Promise<T | undefined> {
  let interval = firstMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (deadline.expired) return undefined;
    await deadline.wait(interval);
    interval = Math.min(maxMs, interval * 2);
  }
}
