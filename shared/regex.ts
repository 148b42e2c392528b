import { RE2JS, RE2JSException } from 're2js';
import { ImageWatcherError } from './errors.ts';
import { showText } from './show.ts';

/** Longest pattern accepted from users (annotations, CLI flags). Tag filters are short. */
export const MAX_PATTERN_LENGTH = 256;

/**
 * Largest compiled program accepted. Matching costs the tag's length times the program's size,
 * so this bounds the cost per character (bench/patterns.ts); real tag filters compile to 10-150
 * instructions (`[a-z0-9]{1,64}` is 129), a counted repetition like `\pL{999}` to about 1,000.
 */
export const MAX_PROGRAM_SIZE = 320;

/** Where the accepted syntax is described (linked from every denial). */
export const RE2_SYNTAX_URL = 'https://github.com/google/re2/wiki/Syntax';

/**
 * A compiled user pattern (include/exclude tag filters). Deliberately not a RegExp: user patterns
 * are matched by a linear-time RE2 engine, never by the backtracking JavaScript one.
 */
export interface TagPattern {
  /** The pattern as the user wrote it. */
  readonly source: string;
  /** True when the pattern matches anywhere in `text` (unanchored, like RegExp.test). */
  test(text: string): boolean;
}

/** A user-supplied pattern that is too long, too large or not valid RE2 syntax. */
export class InvalidPatternError extends ImageWatcherError {
  readonly pattern: string;
  readonly reason: string;
  constructor(pattern: string, reason: string) {
    super('E_REGEX', `pattern ${showText(pattern, 80)} is not allowed: ${reason}`);
    this.pattern = pattern;
    this.reason = reason;
  }
}

const SYNTAX_HINT = `patterns use RE2 syntax (no backreferences or lookaround; see ${RE2_SYNTAX_URL})`;

/**
 * Compiles a pattern written by a user with RE2 (re2js, pure JavaScript): matching takes time
 * linear in the input whatever the pattern, so a hostile pattern cannot stall the event loop.
 * Throws InvalidPatternError for over-long patterns, syntax RE2 does not have (backreferences,
 * lookaround, `\u` escapes) and patterns whose program exceeds MAX_PROGRAM_SIZE.
 */
export function compileUserPattern(pattern: string): TagPattern {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new InvalidPatternError(
      pattern,
      `it is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`,
    );
  }
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err;
    throw new InvalidPatternError(
      pattern,
      `${unsupportedFeature(pattern) ?? syntaxError(err)}; ${SYNTAX_HINT}`,
    );
  }
  const size = compiled.programSize();
  if (size > MAX_PROGRAM_SIZE) {
    throw new InvalidPatternError(
      pattern,
      `it is too large (${size} instructions compiled; the limit is ${MAX_PROGRAM_SIZE}): use smaller counted repetitions such as {1,20}`,
    );
  }
  // matcher().find() runs the one-pass, bit-state or NFA engine, never re2js's lazy DFA: the DFA
  // is faster on friendly input but builds a state per character on adversarial tags (measured
  // 27 s for 10,000 tags against `(a|\.)*a(a|\.){150}$`, against 2.2 s here), and keeps its
  // cache (up to 8 MiB) alive with the settings of every workload.
  return { source: pattern, test: (text) => compiled.matcher(text).find() };
}

/** re2js's message without its prefix; its quoted fragment of the pattern is shortened and escaped. */
function syntaxError(err: RE2JSException): string {
  const text = err.message.replace(/^error parsing regexp: /, '');
  const colon = text.indexOf(': `');
  const detail =
    colon < 0
      ? showText(text, 80, false)
      : `${text.slice(0, colon)}: ${showText(text.slice(colon + 3, -1), 40)}`;
  return `it is not valid RE2 syntax (${detail})`;
}

/**
 * Names the JavaScript-only feature a rejected pattern uses, for a clearer message than RE2's.
 * Only a hint: RE2 alone decides what is accepted. One pass over at most MAX_PATTERN_LENGTH characters.
 */
function unsupportedFeature(pattern: string): string | undefined {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if ((next >= '1' && next <= '9') || next === 'k') {
        return 'backreferences (\\1, \\k<name>) are not supported';
      }
      if (next === 'u') return 'the escape \\u is not supported: write \\x{2019} for a code point';
      i++;
    } else if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest.startsWith('=') || rest.startsWith('!') || rest === '<=' || rest === '<!') {
        return 'lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported';
      }
    }
  }
  return undefined;
}
