// The one memo of parsed settings, for the webhook (every admission review) and the controller
// (every workload): keyed by what parseWatchSettings reads, without building a key string.
import { PREFIX, isManagedKey, sortFew } from './annotations.ts';

interface MemoEntry<T> {
  /** The user image-watcher keys, sorted, and their values, in the same order. */
  keys: string[];
  values: string[];
  names: readonly string[] | undefined;
  value: T;
}

export interface SettingsMemoOptions {
  /** Distinct inputs remembered; past this the memo starts over (a cluster has few). */
  maxEntries: number;
  /** Longest inputs (keys, values and container names together) remembered: values can be large. */
  maxInputLength: number;
  /** Compute without remembering when there is no user image-watcher key (defaults only). */
  skipWithoutKeys?: boolean;
}

/**
 * Results of a computation over a workload's user `image-watcher/*` annotations and container
 * names, remembered per distinct inputs: other annotations (kubectl's last-applied configuration,
 * unique per object) and the managed keys do not count. Inputs are hashed from their lengths and
 * a few characters and then compared part by part, so a lookup allocates one short list and no
 * key string (the JSON key it replaced cost the webhook about 2 us per review to build and hash).
 * Results are shared between callers: treat them as read-only.
 */
export class SettingsMemo<T> {
  readonly #opts: SettingsMemoOptions;
  readonly #buckets = new Map<number, MemoEntry<T>[]>();
  #size = 0;

  constructor(opts: SettingsMemoOptions) {
    this.#opts = opts;
  }

  get size(): number {
    return this.#size;
  }

  /** The remembered result for these inputs, else `compute()`'s, remembered when they fit. */
  resolve(
    annotations: Readonly<Record<string, string>> | undefined,
    containerNames: readonly string[] | undefined,
    compute: () => T,
  ): T {
    const source = annotations ?? {};
    const keys: string[] = [];
    let length = 0;
    for (const key of Object.keys(source)) {
      if (key.startsWith(PREFIX) && !isManagedKey(key)) {
        keys.push(key);
        length += key.length + source[key]!.length;
      }
    }
    if (keys.length === 0 && this.#opts.skipWithoutKeys === true) return compute();
    for (const name of containerNames ?? []) length += name.length;
    if (length > this.#opts.maxInputLength) return compute();
    sortFew(keys);
    const hash = hashOf(keys, source, containerNames);
    const bucket = this.#buckets.get(hash);
    if (bucket !== undefined) {
      for (const entry of bucket) if (matches(entry, keys, source, containerNames)) return entry.value;
    }
    const value = compute();
    if (this.#size >= this.#opts.maxEntries) {
      this.#buckets.clear();
      this.#size = 0;
    }
    const entry: MemoEntry<T> = {
      keys,
      values: keys.map((k) => source[k]!),
      names: containerNames === undefined ? undefined : [...containerNames],
      value,
    };
    const list = this.#buckets.get(hash);
    if (list === undefined) this.#buckets.set(hash, [entry]);
    else list.push(entry);
    this.#size++;
    return value;
  }
}

function matches<T>(
  entry: MemoEntry<T>,
  keys: readonly string[],
  source: Readonly<Record<string, string>>,
  names: readonly string[] | undefined,
): boolean {
  if (entry.keys.length !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (entry.keys[i] !== key || entry.values[i] !== source[key]) return false;
  }
  if (names === undefined || entry.names === undefined) return names === entry.names;
  if (entry.names.length !== names.length) return false;
  for (let i = 0; i < names.length; i++) if (entry.names[i] !== names[i]) return false;
  return true;
}

/** Lengths and three characters of every part: cheap, and different for nearly all real inputs. */
function hashOf(
  keys: readonly string[],
  source: Readonly<Record<string, string>>,
  names: readonly string[] | undefined,
): number {
  let h = keys.length;
  for (const key of keys) h = mix(mix(h, key), source[key]!);
  if (names === undefined) return Math.imul(h, 31) | 0;
  h = Math.imul(h, 31) + names.length + 1;
  for (const name of names) h = mix(h, name);
  return h | 0;
}

function mix(h: number, text: string): number {
  const n = text.length;
  h = Math.imul(h ^ n, 0x01000193);
  if (n === 0) return h;
  h = Math.imul(h ^ text.charCodeAt(0), 0x01000193);
  h = Math.imul(h ^ text.charCodeAt(n >> 1), 0x01000193);
  return Math.imul(h ^ text.charCodeAt(n - 1), 0x01000193);
}
