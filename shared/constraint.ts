// Semver range constraints (`image-watcher/constraint`) on image tags, read with the `semver` package.
import semver from 'semver';
import type { ParsedTag } from './version.ts';

/** A parsed npm semver range and the text it came from. */
export interface VersionConstraint {
  source: string;
  range: semver.Range;
}

/** Longest range accepted: ranges in annotations are short, this only stops abuse. */
const MAX_CONSTRAINT_LENGTH = 256;

/** A range such as `>=1.20 <2`, `~1.25`, `^3 || ^4`; a message when it is not one. */
export function parseConstraint(
  value: string,
): { ok: true; value: VersionConstraint } | { ok: false; message: string } {
  const example = 'e.g. ">=1.20 <2", "~1.25" or "^3 || ^4"';
  if (value.length > MAX_CONSTRAINT_LENGTH) {
    return { ok: false, message: `is longer than ${MAX_CONSTRAINT_LENGTH} characters` };
  }
  try {
    return {
      ok: true,
      value: { source: value, range: new semver.Range(value, { includePrerelease: true }) },
    };
  } catch {
    return { ok: false, message: `is not an npm semver range (${example})` };
  }
}

/**
 * The tag's version as semver: the prefix dropped, missing parts as zero (a fourth part is
 * ignored), the prerelease kept. Undefined when the prerelease is not a semver identifier list.
 */
export function semverOf(tag: ParsedTag): semver.SemVer | undefined {
  const [major = 0, minor = 0, patch = 0] = tag.numbers;
  const pre = tag.prerelease === undefined ? '' : `-${tag.prerelease}`;
  return semver.parse(`${major}.${minor}.${patch}${pre}`) ?? undefined;
}

/**
 * Whether the constraint allows the tag. Prereleases are judged like releases: whether one is a
 * candidate at all is the strategy's rule (only when a prerelease runs), not the range's.
 */
export function satisfiesConstraint(tag: ParsedTag, constraint: VersionConstraint): boolean {
  const v = semverOf(tag);
  return v !== undefined && constraint.range.test(v);
}
