// The one "newest allowed version" rule, used by the watcher, the CLI (check/scan), /api/v1/resolve,
// /images and (through the watcher's checks) the approval page.
import type { LatestTag, TagSelection } from './strategy.ts';
import { findLatestTag } from './strategy.ts';
import type { ParsedTag } from './version.ts';
import { compareTags, parseTag, sameShape } from './version.ts';

export interface CandidateRule extends TagSelection {
  /**
   * Versions never to propose again (`last-failed-version`, external reverts). For versions of the
   * current tag's shape everything up to the newest failed one is skipped too: a failure means
   * "wait for a release newer than it" (1.3 fails, 1.4 fails: 1.3 is not offered again).
   */
  failed?: ReadonlySet<string> | undefined;
}

/**
 * The newest tag allowed by the rule (strategy, include/exclude, same shape as the running tag,
 * failed versions) that is strictly newer than `currentTag`; undefined when there is none or when
 * `currentTag` is not a version. Never a downgrade, whatever the tag list holds.
 */
export function newestAllowed(
  currentTag: string,
  tags: Iterable<string>,
  rule: CandidateRule,
): LatestTag | undefined {
  const current = parseTag(currentTag);
  if (!current) return undefined;
  const failed = rule.failed;
  const list = failed === undefined || failed.size === 0 ? tags : withoutFailed(tags, failed, current);
  const latest = findLatestTag(currentTag, list, {
    strategy: rule.strategy,
    include: rule.include,
    exclude: rule.exclude,
  });
  if (!latest) return undefined;
  const next = parseTag(latest.tag);
  // Belt and braces: whatever the strategy module returns, never propose a downgrade.
  if (!next || compareTags(next, current) <= 0) return undefined;
  return latest;
}

function withoutFailed(tags: Iterable<string>, skip: ReadonlySet<string>, current: ParsedTag): string[] {
  let floor: ParsedTag | undefined;
  for (const version of skip) {
    const parsed = parseTag(version);
    if (parsed && sameShape(parsed, current) && (!floor || compareTags(parsed, floor) > 0)) floor = parsed;
  }
  const out: string[] = [];
  for (const t of tags) {
    if (typeof t !== 'string' || skip.has(t)) continue;
    if (floor) {
      const parsed = parseTag(t);
      if (parsed !== undefined && compareTags(parsed, floor) <= 0) continue;
    }
    out.push(t);
  }
  return out;
}
