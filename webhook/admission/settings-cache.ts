import { parseWatchSettings } from '../../shared/annotations.ts';
import { SettingsMemo } from '../../shared/settings-memo.ts';

export type ParseSettings = typeof parseWatchSettings;

/** Longest inputs kept: annotation values can be large, the memo must stay small. */
const MAX_INPUT_LENGTH = 4096;

/**
 * parseWatchSettings with a bounded memo (SettingsMemo). Compiling the include/exclude patterns is
 * most of a review's CPU time, and a cluster re-applies the same few annotation sets over and
 * over. Only the inputs parseWatchSettings reads count (user `image-watcher/*` keys and the
 * container names), so results are identical to calling it directly; annotations without a user
 * key (most workloads) have nothing to compile and are not remembered. Results are shared between
 * callers: treat them as read-only.
 */
export function cachedSettingsParser(maxEntries = 500): ParseSettings {
  const memo = new SettingsMemo<ReturnType<ParseSettings>>({
    maxEntries,
    maxInputLength: MAX_INPUT_LENGTH,
    skipWithoutKeys: true,
  });
  return (annotations, opts = {}) => {
    if (opts.overrides !== undefined) return parseWatchSettings(annotations, opts);
    return memo.resolve(annotations, opts.containerNames, () => parseWatchSettings(annotations, opts));
  };
}
