/**
 * One copy of each repeated string (namespaces, images, JSON pointers, condition reasons...).
 * Thousands of workloads parsed from JSON each bring their own copy of the same values; a pool
 * keeps the first and hands it out again. Bounded: when full it starts over, which only costs
 * sharing, never correctness (a pooled string is an ordinary string).
 */
export class StringPool {
  readonly #strings = new Map<string, string>();
  readonly #max: number;

  constructor(max = 16_384) {
    this.#max = max;
  }

  /** The pooled copy of `s`, stored flat (a concatenation would keep every part alive). */
  get(s: string): string {
    const have = this.#strings.get(s);
    if (have !== undefined) return have;
    if (this.#strings.size >= this.#max) this.#strings.clear();
    const flat = JSON.parse(JSON.stringify(s)) as string;
    this.#strings.set(flat, flat);
    return flat;
  }

  /** `get` for an optional value. */
  maybe(s: string | undefined): string | undefined {
    return s === undefined ? undefined : this.get(s);
  }

  get size(): number {
    return this.#strings.size;
  }
}
