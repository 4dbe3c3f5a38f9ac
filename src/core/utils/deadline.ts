// One time budget that every step draws from, so no command outlives its limit.

export class Deadline {
  /** Aborts (with a TimeoutError) when the deadline passes, or when the parent signal aborts. */
  readonly signal: AbortSignal;
  readonly #expiry = new AbortController();

  private constructor(
    /** Epoch milliseconds at which the budget runs out. */
    readonly at: number,
    parent?: AbortSignal,
  ) {
    // Our own timer, not AbortSignal.timeout: `remaining()` can see the deadline pass before a
    // timer fires, and must then abort the signal itself so `expired` and `signal` never disagree.
    setTimeout(() => this.#expire(), Math.max(0, at - Date.now())).unref();
    this.signal = parent ? AbortSignal.any([parent, this.#expiry.signal]) : this.#expiry.signal;
  }

  /** A deadline `ms` from now, ended early if `parent` aborts. */
  static in(ms: number, parent?: AbortSignal): Deadline {
    return new Deadline(Date.now() + ms, parent);
  }

  /** Milliseconds left, never negative. */
  remaining(): number {
    if (this.signal.aborted) return 0;
    const left = this.at - Date.now();
    // Stryker disable next-line EqualityOperator: at exactly 0 left, the expiry timer fires within the same millisecond
    if (left > 0) return left;
    this.#expire();
    return 0;
  }

  get expired(): boolean {
    return this.remaining() === 0;
  }

  /** A sub-budget of at most `ms`, never past this one, ended by `also` too. */
  slice(ms: number, also?: AbortSignal): Deadline {
    const parent = also ? AbortSignal.any([this.signal, also]) : this.signal;
    return new Deadline(Math.min(this.at, Date.now() + Math.max(0, ms)), parent);
  }

  #expire(): void {
    // Stryker disable next-line ConditionalExpression: aborting twice is a no-op; the check only keeps the first reason
    if (!this.#expiry.signal.aborted) {
      this.#expiry.abort(new DOMException('the deadline passed', 'TimeoutError'));
    }
  }

  /** Waits `ms` or until the deadline, whichever is first; never throws. */
  wait(ms: number): Promise<void> {
    const left = this.remaining();
    const wait = Math.min(ms, left);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: a timer of 0 ms resolves just as well, a tick later
    if (wait <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      // A timer can fire a millisecond before Date.now() agrees; a wait that ran to the
      // deadline ends it, so the caller never sees time "left" after waiting all of it.
      const timer = setTimeout(() => {
        if (wait === left) this.#expire();
        done();
      }, wait);
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: done() removes the listener itself
      this.signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * Polls `check` with a short, slowly growing interval until it returns a value or the deadline
 * ends. AgentAPI saves or exits in a few milliseconds: starting at 1 ms and growing by a quarter
 * each time notices an event at most about a quarter of its duration late (doubling would be up
 * to 100% late), and each check is a cheap /proc or stat read.
 */
export async function pollUntil<T>(
  deadline: Deadline,
  check: () => Promise<T | undefined> | T | undefined,
  { firstMs = 1, maxMs = 25, growth = 1.25 } = {},
): Promise<T | undefined> {
  let interval = firstMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (deadline.expired) return undefined;
    await deadline.wait(interval);
    interval = Math.min(maxMs, interval * growth);
  }
}
