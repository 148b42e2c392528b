import { parseWatchSettings, settingsInputsKey, settingsKeyIsEmpty } from '../../shared/annotations.ts';

export type ParseSettings = typeof parseWatchSettings;

/** Longest cache key kept: annotation values can be large, the cache must stay small. */
const MAX_KEY_LENGTH = 4096;

/**
 * parseWatchSettings with a bounded memo. Compiling the include/exclude patterns is most of a review's CPU time, and a cluster re-applies the same few annotation sets
 * over and over. Only the inputs parseWatchSettings reads go into the key (user `image-watcher/*`
 * keys and the container names), so results are identical to calling it directly. Results are
 * shared between callers: treat them as read-only.
 */
export function cachedSettingsParser(maxEntries = 500): ParseSettings {
  const cache = new Map<string, ReturnType<ParseSettings>>();
  // The most recently used key: a hit on it needs no recency refresh (a Map delete and set per
  // review, whose holes make the Map rehash every few reviews).
  let newest: string | undefined;
  return (annotations, opts = {}) => {
    if (opts.overrides !== undefined) return parseWatchSettings(annotations, opts);
    const key = settingsInputsKey(annotations, opts.containerNames, MAX_KEY_LENGTH);
    // Too large to keep, or no image-watcher key (its parts list is empty): nothing to compile.
    if (key === undefined || settingsKeyIsEmpty(key)) return parseWatchSettings(annotations, opts);
    const hit = cache.get(key);
    if (hit !== undefined) {
      // Refresh recency: Map iteration order is insertion order, so the first key is the oldest.
      if (key !== newest) {
        cache.delete(key);
        cache.set(key, hit);
        newest = key;
      }
      return hit;
    }
    const result = parseWatchSettings(annotations, opts);
    cache.set(key, result);
    newest = key;
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    return result;
  };
}
