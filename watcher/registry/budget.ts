/**
 * A byte count shared by concurrent users (responses being read, tag lists being assembled):
 * `take` refuses instead of waiting, so a flood fails fast with a typed error and memory stays bounded.
 */
export class ByteBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  /** Reserves `n` bytes; false (nothing reserved) when that would exceed the limit. */
  take(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}
