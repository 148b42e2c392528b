// Choosing the newest allowed tag for an update strategy. Pure: tags in, decision out.
import { ImageWatcherError } from './errors.ts';
import type { TagPattern } from './regex.ts';
import { classifyChange, compareTags, parseTag, sameShape } from './version.ts';
import type { ParsedTag, VersionChange } from './version.ts';

export { classifyChange, compareTags, parseTag, sameShape } from './version.ts';
export type { ParsedTag, VersionChange } from './version.ts';

export type Strategy = 'ALL' | 'MAJOR' | 'MINOR' | 'PATCH';
export const STRATEGIES: readonly Strategy[] = Object.freeze(['ALL', 'MAJOR', 'MINOR', 'PATCH'] as const);

/** True for the exact (upper-case) strategy names; parse user input case-insensitively before calling. */
export function isStrategy(value: unknown): value is Strategy {
  return typeof value === 'string' && (STRATEGIES as readonly string[]).includes(value);
}

/** A caller passed a strategy that is not one of STRATEGIES (a programming error, not user input). */
export class InvalidStrategyError extends ImageWatcherError {
  constructor(value: unknown) {
    super('E_STRATEGY', `strategy '${String(value)}' is not one of ${STRATEGIES.join(', ')}`);
  }
}

export interface TagSelection {
  strategy: Strategy;
  /** A candidate tag must match this (a user pattern: see compileUserPattern). */
  include?: TagPattern | undefined;
  /** A candidate tag must not match this. */
  exclude?: TagPattern | undefined;
}

export interface LatestTag {
  tag: string;
  change: VersionChange;
}

/** How many leading numeric parts a candidate must share with the current tag. */
const FIXED_PARTS: Readonly<Record<Strategy, number>> = { ALL: 0, MAJOR: 0, MINOR: 1, PATCH: 2 };

/**
 * Newest allowed tag strictly newer than currentTag, or undefined (no update; also when currentTag is
 * not a version). Candidates have the current tag's shape, share the parts the strategy fixes, are
 * prereleases only when the current tag is one, and pass include/exclude. Tags that do not parse are skipped.
 * Throws InvalidStrategyError when sel.strategy is not one of STRATEGIES.
 */
export function findLatestTag(
  currentTag: string,
  tags: Iterable<string>,
  sel: TagSelection,
  accept?: (candidate: ParsedTag) => boolean,
): LatestTag | undefined {
  const found = scan(currentTag, tags, sel, false, accept);
  const best = found?.list[0];
  return best === undefined ? undefined : { tag: best.raw, change: classifyChange(found!.current, best) };
}

/**
 * Every tag findLatestTag could choose, newest first (at most `max`): the candidates to fall back on
 * when a newer one is held by a policy rule. `accept` is an extra rule (a semver constraint).
 */
export function findAllowedTags(
  currentTag: string,
  tags: Iterable<string>,
  sel: TagSelection,
  max: number,
  accept?: (candidate: ParsedTag) => boolean,
): LatestTag[] {
  const found = scan(currentTag, tags, sel, true, accept);
  if (!found) return [];
  const sorted = found.list.sort((a, b) => (isBetter(a, b) ? -1 : isBetter(b, a) ? 1 : 0));
  return sorted
    .slice(0, Math.max(0, max))
    .map((t) => ({ tag: t.raw, change: classifyChange(found.current, t) }));
}

/** The one pass over a tag list: the best candidate only, or all of them (`all`). */
function scan(
  currentTag: string,
  tags: Iterable<string>,
  sel: TagSelection,
  all: boolean,
  accept: ((candidate: ParsedTag) => boolean) | undefined,
): { current: ParsedTag; list: ParsedTag[] } | undefined {
  // Checked first: silently treating a typo as ALL could propose a major upgrade nobody asked for.
  if (!isStrategy(sel.strategy)) throw new InvalidStrategyError(sel.strategy);
  const current = parseTag(currentTag);
  if (current === undefined) return undefined;
  const fixed = Math.min(FIXED_PARTS[sel.strategy], current.numbers.length);
  const allowPrerelease = current.prerelease !== undefined;
  const { include, exclude } = sel;
  const variantMark = current.variant === undefined ? undefined : `-${current.variant}`;

  let best: ParsedTag | undefined;
  const list: ParsedTag[] = [];
  const seen = all ? new Set<string>() : undefined;
  for (const tag of tags) {
    if (
      typeof tag !== 'string' ||
      tag === currentTag ||
      !mayMatch(tag, current, fixed, variantMark, all ? current : (best ?? current))
    )
      continue;
    const candidate = parseTag(tag);
    if (candidate === undefined || !sameShape(candidate, current)) continue;
    if (candidate.prerelease !== undefined && !allowPrerelease) continue;
    if (!sharesLeadingParts(candidate, current, fixed)) continue;
    if (compareTags(candidate, current) <= 0) continue;
    if (!all && best !== undefined && !isBetter(candidate, best)) continue;
    // Last: user patterns are the costliest check (linear, but in the pattern's size too).
    if (include !== undefined && !include.test(tag)) continue;
    if (exclude !== undefined && exclude.test(tag)) continue;
    if (accept !== undefined && !accept(candidate)) continue;
    if (seen) {
      if (seen.has(tag)) continue;
      seen.add(tag);
      list.push(candidate);
    } else best = candidate;
  }
  if (!all && best !== undefined) list.push(best);
  return { current, list };
}

const DIGIT_0 = 48;
const DIGIT_9 = 57;
const DOT = 46;
const UNDERSCORE = 95;

/**
 * Necessary conditions checked without a full parse or any allocation: most tags of a busy repository
 * (signatures, branches, other variants, other or older majors) fail here. Exact checks follow after
 * parseTag. `floor` is the best tag so far (or the current one): a candidate whose first free numeric part
 * is below the floor's cannot win, because every candidate shares the fixed parts.
 */
function mayMatch(
  tag: string,
  current: ParsedTag,
  fixed: number,
  variantMark: string | undefined,
  floor: ParsedTag,
): boolean {
  if (!tag.startsWith(current.prefix)) return false;
  let i = current.prefix.length;
  const first = tag.charCodeAt(i);
  if (!(first >= DIGIT_0 && first <= DIGIT_9)) return false;
  if (variantMark !== undefined && !tag.includes(variantMark)) return false;
  const last = Math.min(fixed, current.numbers.length - 1);
  for (let k = 0; k <= last; k++) {
    // Read as numbers so leading zeros ('2024.01') still match.
    const start = i;
    let n = 0;
    for (; i < tag.length; i++) {
      const c = tag.charCodeAt(i);
      if (c < DIGIT_0 || c > DIGIT_9) break;
      n = n * 10 + (c - DIGIT_0);
    }
    if (i === start) return false;
    if (k < fixed ? n !== current.numbers[k] : n < (floor.numbers[k] ?? 0)) return false;
    if (k < last) {
      const sep = tag.charCodeAt(i);
      if (sep !== DOT && sep !== UNDERSCORE) return false;
      i++;
    }
  }
  return true;
}

function sharesLeadingParts(a: ParsedTag, b: ParsedTag, count: number): boolean {
  for (let i = 0; i < count; i++) if (a.numbers[i] !== b.numbers[i]) return false;
  return true;
}

/** Newer wins; equal versions ('1.02' and '1.2', '+b1' and '+b2') go to the larger string so order never matters. */
function isBetter(candidate: ParsedTag, best: ParsedTag): boolean {
  const c = compareTags(candidate, best);
  return c > 0 || (c === 0 && candidate.raw > best.raw);
}

const PATCH_SUFFIX = /-patch\.(\d{1,15})$/;

/**
 * Older mojaloop convention for the `/images` API: the newest `<baseTag>-patch.N` (N compared as a number),
 * or undefined when there is none. Given `v10.4.0-patch.2` it looks for patches of `v10.4.0` newer than 2.
 */
export function findLatestPatchSuffix(baseTag: string, tags: Iterable<string>): string | undefined {
  let base = baseTag;
  let floor = -1;
  const own = PATCH_SUFFIX.exec(baseTag);
  if (own?.[1] !== undefined) {
    base = baseTag.slice(0, own.index);
    floor = Number(own[1]);
  }
  const stem = `${base}-patch.`;
  let best: string | undefined;
  let bestN = floor;
  for (const tag of tags) {
    if (typeof tag !== 'string' || !tag.startsWith(stem)) continue;
    const m = PATCH_SUFFIX.exec(tag);
    // The match must start right after the base: 'v1-patch.2-patch.3' is not a patch of 'v1'.
    if (m?.[1] === undefined || m.index !== base.length) continue;
    const n = Number(m[1]);
    if (n > bestN || (n === bestN && best !== undefined && tag > best)) {
      best = tag;
      bestN = n;
    }
  }
  return best;
}
