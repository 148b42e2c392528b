// The one "newest allowed version" rule, used by the watcher, the CLI (check/scan), /api/v1/resolve,
// /images and (through the watcher's checks) the approval page.
import type { VersionConstraint } from './constraint.ts';
import { satisfiesConstraint } from './constraint.ts';
import type { LatestTag, TagSelection } from './strategy.ts';
import { findAllowedTags, findLatestTag } from './strategy.ts';
import type { ParsedTag } from './version.ts';
import { compareTags, parseTag, sameShape } from './version.ts';

export interface CandidateRule extends TagSelection {
  /**
   * Versions never to propose again (`last-failed-version`, external reverts). For versions of the
   * current tag's shape everything up to the newest failed one is skipped too: a failure means
   * "wait for a release newer than it" (1.3 fails, 1.4 fails: 1.3 is not offered again).
   */
  failed?: ReadonlySet<string> | undefined;
  /** `image-watcher/constraint`: a semver range that narrows the strategy (both must allow a tag). */
  constraint?: VersionConstraint | undefined;
}

/**
 * The newest tag allowed by the rule (strategy, include/exclude, same shape as the running tag,
 * failed versions, constraint) that is strictly newer than `currentTag`; undefined when there is
 * none or when `currentTag` is not a version. Never a downgrade, whatever the tag list holds.
 * The same as the first of {@link allowedCandidates}.
 */
export function newestAllowed(
  currentTag: string,
  tags: Iterable<string>,
  rule: CandidateRule,
): LatestTag | undefined {
  const current = parseTag(currentTag);
  if (!current) return undefined;
  const latest = findLatestTag(currentTag, candidateList(tags, rule, current), selection(rule), accept(rule));
  return latest !== undefined && isNewer(latest, current) ? latest : undefined;
}

/**
 * Every tag the rule allows, newest first, at most `max`: when policy holds the newest (too young,
 * missing a platform, unsigned), the watcher falls back on the next older one.
 */
export function allowedCandidates(
  currentTag: string,
  tags: Iterable<string>,
  rule: CandidateRule,
  max: number,
): LatestTag[] {
  const current = parseTag(currentTag);
  if (!current) return [];
  return findAllowedTags(
    currentTag,
    candidateList(tags, rule, current),
    selection(rule),
    max,
    accept(rule),
  ).filter((t) => isNewer(t, current));
}

function candidateList(tags: Iterable<string>, rule: CandidateRule, current: ParsedTag): Iterable<string> {
  const failed = rule.failed;
  return failed === undefined || failed.size === 0 ? tags : withoutFailed(tags, failed, current);
}

function selection(rule: CandidateRule): TagSelection {
  return { strategy: rule.strategy, include: rule.include, exclude: rule.exclude };
}

function accept(rule: CandidateRule): ((t: ParsedTag) => boolean) | undefined {
  const c = rule.constraint;
  return c === undefined ? undefined : (t) => satisfiesConstraint(t, c);
}

/** Belt and braces: whatever the strategy module returns, never propose a downgrade. */
function isNewer(latest: LatestTag, current: ParsedTag): boolean {
  const next = parseTag(latest.tag);
  return next !== undefined && compareTags(next, current) > 0;
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
