/**
 * Token bucket: up to `burst` requests at once, refilled at `ratePerSecond`. `take()` waits
 * (with the injected sleep) until a token is free, so callers queue instead of failing.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  #tokens: number;
  #last: number;

  constructor(opts: {
    ratePerSecond: number;
    burst: number;
    now: () => number;
    sleep: (ms: number) => Promise<void>;
  }) {
    if (!(opts.ratePerSecond > 0) || !(opts.burst >= 1)) {
      throw new RangeError('rate limit needs ratePerSecond > 0 and burst >= 1');
    }
    this.#rate = opts.ratePerSecond;
    this.#burst = opts.burst;
    this.#now = opts.now;
    this.#sleep = opts.sleep;
    this.#tokens = opts.burst;
    this.#last = opts.now();
  }

  /** A full bucket behaves exactly like a new one, so it may be dropped and re-created later. */
  isFull(): boolean {
    this.#refill();
    return this.#tokens >= this.#burst;
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = Math.max(0, now - this.#last) / 1000;
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#rate);
    this.#last = now;
  }

  /** Takes a token when one is free now; false (nothing taken) otherwise. For callers that refuse rather than wait. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  async take(): Promise<void> {
    this.#refill();
    // Reserve the token now (the count may go negative) so concurrent callers queue in order.
    this.#tokens -= 1;
    if (this.#tokens >= 0) return;
    await this.#sleep(Math.ceil((-this.#tokens / this.#rate) * 1000));
  }
}
