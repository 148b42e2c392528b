// Versions read from image tags. Tags are not semver ('1.25', '1.2.3.4', '16.1-alpine3.19',
// '1.2.3-debian-12-r4'), so this is a small parser of its own with one precompiled regex.
// Tag selection (strategies) lives in strategy.ts, which builds on this module (never the reverse:
// no import cycle).

export interface ParsedTag {
  /** The tag exactly as listed by the registry. */
  raw: string;
  /** '' when absent; 'v', 'V', or word prefixes such as 'release-' / 'release-v'. */
  prefix: string;
  /** 1 to 4 numeric parts; leading zeros are read as numbers ('2024.01.15' -> [2024, 1, 15]). */
  numbers: number[];
  /** As written without its leading separator: 'rc1', 'rc.1', 'beta2', 'M1', 'SNAPSHOT'. */
  prerelease: string | undefined;
  /** Variant suffix without its leading '-': 'alpine', 'alpine3.19', 'bookworm-slim', 'debian-12'. */
  variant: string | undefined;
  /** Image rebuild number, e.g. bitnami '-r4'. */
  revision: number | undefined;
  /** Build metadata after '+' (ignored when comparing, as in semver). Extension of the design signature. */
  build?: string | undefined;
}

/** Which part of the version moved between two tags ('digest': same tag, new image behind it). */
export type VersionChange = 'major' | 'minor' | 'patch' | 'build' | 'prerelease' | 'revision' | 'digest';

/** Docker's tag grammar allows at most 128 characters; anything longer is not a tag. */
const TAG_LENGTH_MAX = 128;
const MAX_NUMBERS = 4;

// Prerelease keywords. 'a'/'b' (Python's '3.13.0a1') only when glued to the numbers and followed by a
// digit; 'm' (Spring's '5.0.0.M1') only followed by a digit, so variants like '-alpine' never match.
const PRERELEASE_SOURCE =
  '(?:[-.]?(?:alpha|beta|preview|pre|rc|dev|snapshot|canary|nightly|milestone|ea)|[-.]?m(?=\\d)|[ab](?=\\d))' +
  // Number after the keyword: '-rc1', '-rc.1', '-rc-1', '-ea-19'. Later separators are mandatory so
  // digit runs cannot be split in many ways (no catastrophic backtracking).
  '(?:[-.]?\\d{1,15}(?:[-.]\\d{1,15})*)?' +
  // A keyword must end the tag or be followed by the variant, revision or build: 'devel' is a variant.
  '(?=$|[-+])';

// A variant part that is exactly 'rN' at the end is the revision, not part of the variant.
const NOT_REVISION = '(?!r\\d{1,15}(?:\\+|$))';

// Numbered groups (cheaper than named ones on this hot path): 1 prefix, 2 numbers, 3 underscore build,
// 4 prerelease, 5 variant, 6 revision, 7 build metadata.
const TAG_PATTERN = new RegExp(
  '^' +
    // 'v', or word prefixes ending in '-'/'_' ('release-', 'release-v'); never digits, so
    // 'sha256-abc.sig' and 'jdk17' stay non-versions.
    '(v|(?:[a-z]+[-_])+v?)?' +
    '(\\d{1,15}(?:\\.\\d{1,15}){0,3})' +
    // eclipse-temurin style build number: '17.0.9_9'.
    '(?:_(\\d{1,15}))?' +
    `(${PRERELEASE_SOURCE})?` +
    `(?:-(${NOT_REVISION}[a-z][a-z0-9._]*(?:-${NOT_REVISION}[a-z0-9][a-z0-9._]*)*))?` +
    '(?:-r(\\d{1,15}))?' +
    '(?:\\+([0-9a-z.-]+))?' +
    '$',
  'i',
);

const LEADING_SEPARATOR = /^[-.]/;
const DOT = 46;
const ZERO = 48;

/** Reads a version from a tag, or undefined when the tag is not a version ('latest', 'stable-perl', garbage). */
export function parseTag(tag: string): ParsedTag | undefined {
  if (typeof tag !== 'string' || tag.length === 0 || tag.length > TAG_LENGTH_MAX) return undefined;
  const m = TAG_PATTERN.exec(tag);
  if (m === null || m[2] === undefined) return undefined;
  const numbers = readNumbers(m[2]);
  if (m[3] !== undefined) {
    if (numbers.length >= MAX_NUMBERS) return undefined;
    numbers.push(Number(m[3]));
  }
  const prerelease = m[4];
  return {
    raw: tag,
    prefix: m[1] ?? '',
    numbers,
    prerelease: prerelease === undefined ? undefined : prerelease.replace(LEADING_SEPARATOR, ''),
    variant: m[5],
    revision: m[6] === undefined ? undefined : Number(m[6]),
    build: m[7],
  };
}

/** '1.25.3' -> [1, 25, 3] without the intermediate arrays of split/map (hot path). */
function readNumbers(s: string): number[] {
  const out: number[] = [];
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === DOT) {
      out.push(n);
      n = 0;
    } else n = n * 10 + (c - ZERO);
  }
  out.push(n);
  return out;
}

/** Same prefix, same number of numeric parts, same variant: only such tags are candidates. */
export function sameShape(a: ParsedTag, b: ParsedTag): boolean {
  return a.prefix === b.prefix && a.numbers.length === b.numbers.length && a.variant === b.variant;
}

/** Orders versions: numbers, then a final release above its prereleases, then revision. Build metadata is ignored. */
export function compareTags(a: ParsedTag, b: ParsedTag): number {
  const n = Math.max(a.numbers.length, b.numbers.length);
  for (let i = 0; i < n; i++) {
    const d = (a.numbers[i] ?? 0) - (b.numbers[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  const p = comparePrerelease(a.prerelease, b.prerelease);
  if (p !== 0) return p;
  const r = (a.revision ?? -1) - (b.revision ?? -1);
  return r === 0 ? 0 : r < 0 ? -1 : 1;
}

const NUMBER_CHANGES: readonly VersionChange[] = ['major', 'minor', 'patch', 'build'];

/** Names the most significant part that differs between two versions. */
export function classifyChange(from: ParsedTag, to: ParsedTag): VersionChange {
  const n = Math.max(from.numbers.length, to.numbers.length);
  for (let i = 0; i < n; i++) {
    if ((from.numbers[i] ?? 0) !== (to.numbers[i] ?? 0)) return NUMBER_CHANGES[Math.min(i, 3)] ?? 'build';
  }
  if (comparePrerelease(from.prerelease, to.prerelease) !== 0) return 'prerelease';
  if (from.revision !== to.revision) return 'revision';
  return 'digest';
}

interface PrereleaseKey {
  rank: number;
  numbers: number[];
  /** Lower-cased text, the last resort for prereleases this parser did not produce. */
  text: string;
}

// Development builds sort first, release candidates last, as projects publish them.
const PRERELEASE_RANK: Readonly<Record<string, number>> = {
  dev: 0,
  snapshot: 0,
  nightly: 0,
  canary: 0,
  ea: 1,
  alpha: 1,
  a: 1,
  beta: 2,
  b: 2,
  milestone: 3,
  m: 3,
  pre: 4,
  preview: 4,
  rc: 5,
};
const PRERELEASE_PARTS = /^([a-z]+)[-.]?(\d+(?:[-.]\d+)*)?$/;
const NUMBER_SEPARATOR = /[-.]/;

// No memo: prereleases are compared only when the numbers are equal, which is rare (bench/versions.ts
// measured no difference without one), and a module-level cache would be state shared by every caller.
function prereleaseKey(pre: string): PrereleaseKey {
  const text = pre.toLowerCase();
  const m = PRERELEASE_PARTS.exec(text);
  const rank = m?.[1] === undefined ? undefined : PRERELEASE_RANK[m[1]];
  return rank === undefined
    ? { rank: -1, numbers: [], text }
    : { rank, numbers: m?.[2] === undefined ? [] : m[2].split(NUMBER_SEPARATOR).map(Number), text };
}

function comparePrerelease(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1; // a release is newer than any of its prereleases
  if (b === undefined) return -1;
  const ka = prereleaseKey(a);
  const kb = prereleaseKey(b);
  if (ka.rank !== kb.rank) return ka.rank < kb.rank ? -1 : 1;
  if (ka.rank === -1) return ka.text === kb.text ? 0 : ka.text < kb.text ? -1 : 1;
  const n = Math.max(ka.numbers.length, kb.numbers.length);
  for (let i = 0; i < n; i++) {
    // 'rc' < 'rc.1' < 'rc.1.1', as semver orders a shorter identifier list first.
    const x = ka.numbers[i] ?? -1;
    const y = kb.numbers[i] ?? -1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
