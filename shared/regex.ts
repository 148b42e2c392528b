import { ImageWatcherError } from './errors.ts';

/** Longest pattern accepted from users (annotations, CLI flags). Tag filters are short. */
export const MAX_PATTERN_LENGTH = 256;

/** A user-supplied pattern that does not compile or could make matching take exponential time. */
export class UnsafeRegexError extends ImageWatcherError {
  readonly pattern: string;
  readonly reason: string;
  constructor(pattern: string, reason: string) {
    super('E_REGEX', `pattern "${shorten(pattern)}" is not allowed: ${reason}`);
    this.pattern = pattern;
    this.reason = reason;
  }
}

/**
 * Compiles a regular expression written by a user (include/exclude tag filters).
 * Throws UnsafeRegexError for invalid syntax, over-long patterns, back-references and patterns
 * whose backtracking can blow up (nested quantifiers like `(a+)+`, overlapping alternatives
 * under a repetition like `(a|a)*`). Tag lists are matched in the watcher's event loop, so one
 * bad pattern must not stall it.
 */
export function compileUserRegex(pattern: string): RegExp {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new UnsafeRegexError(
      pattern,
      `it is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`,
    );
  }
  let compiled: RegExp;
  try {
    compiled = new RegExp(pattern);
  } catch (err) {
    // V8's message repeats the pattern; keep only the reason after the last colon.
    const detail = err instanceof Error ? (err.message.split(': ').pop() ?? err.message) : String(err);
    throw new UnsafeRegexError(pattern, `it is not a valid regular expression (${detail})`);
  }
  const reason = findDanger(parsePattern(pattern));
  if (reason !== undefined) throw new UnsafeRegexError(pattern, reason);
  return compiled;
}

function shorten(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

// --- a small parser for the subset of JavaScript regex syntax that matters for the analysis ------------

type Atom =
  | { type: 'char'; source: string } // literal, escape, `.` or character class: matches one character
  | { type: 'assertion' } // ^ $ \b \B: matches no character
  | { type: 'backref' }
  | { type: 'group'; lookaround: boolean; branches: Item[][] };

interface Item {
  atom: Atom;
  min: number;
  max: number; // Infinity for * + {n,}
}

const QUANTIFIER = /^\{(\d+)(?:(,)(\d*))?\}/;

/** Parses a pattern that `new RegExp` already accepted, so malformed input is not a concern here. */
function parsePattern(pattern: string): Item[][] {
  let i = 0;

  function parseAlternation(): Item[][] {
    const branches: Item[][] = [[]];
    while (i < pattern.length) {
      const ch = pattern[i];
      if (ch === ')') break;
      if (ch === '|') {
        i++;
        branches.push([]);
        continue;
      }
      const atom = parseAtom();
      const [min, max] = parseQuantifier();
      branches[branches.length - 1]!.push({ atom, min, max });
    }
    return branches;
  }

  function parseAtom(): Atom {
    const start = i;
    const ch = pattern[i];
    if (ch === '(') {
      i++;
      let lookaround = false;
      if (pattern.startsWith('?:', i)) i += 2;
      else if (pattern.startsWith('?=', i) || pattern.startsWith('?!', i)) {
        i += 2;
        lookaround = true;
      } else if (pattern.startsWith('?<=', i) || pattern.startsWith('?<!', i)) {
        i += 3;
        lookaround = true;
      } else if (pattern.startsWith('?<', i)) i = pattern.indexOf('>', i) + 1; // named group
      const branches = parseAlternation();
      i++; // ')'
      return { type: 'group', lookaround, branches };
    }
    if (ch === '[') {
      i++;
      if (pattern[i] === '^') i++;
      // In non-unicode mode the first `]` that is not escaped closes the class (`[]` is empty).
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
      return { type: 'char', source: pattern.slice(start, i) };
    }
    if (ch === '^' || ch === '$') {
      i++;
      return { type: 'assertion' };
    }
    if (ch === '\\') {
      const next = pattern[i + 1] ?? '';
      if (next === 'b' || next === 'B') {
        i += 2;
        return { type: 'assertion' };
      }
      if (/[1-9]/.test(next) || next === 'k') {
        i += 2;
        if (next === 'k' && pattern[i] === '<') i = pattern.indexOf('>', i) + 1;
        while (/\d/.test(pattern[i] ?? '')) i++;
        return { type: 'backref' };
      }
      if (next === 'x') i += 4;
      else if (next === 'u') i += pattern[i + 2] === '{' ? pattern.indexOf('}', i) + 1 - i : 6;
      else if (next === 'c') i += 3;
      else if (next === '0') {
        i += 2;
        while (/[0-7]/.test(pattern[i] ?? '') && i - start < 4) i++;
      } else i += 2;
      return { type: 'char', source: pattern.slice(start, i) };
    }
    i++;
    return { type: 'char', source: ch ?? '' };
  }

  function parseQuantifier(): [number, number] {
    let range: [number, number];
    const ch = pattern[i];
    if (ch === '*') range = [0, Infinity];
    else if (ch === '+') range = [1, Infinity];
    else if (ch === '?') range = [0, 1];
    else if (ch === '{') {
      const m = QUANTIFIER.exec(pattern.slice(i));
      if (!m) return [1, 1]; // a literal `{` (allowed without the u flag)
      const min = Number(m[1]);
      range = [min, m[2] === undefined ? min : m[3] ? Number(m[3]) : Infinity];
      i += m[0].length - 1;
    } else return [1, 1];
    i++;
    if (pattern[i] === '?') i++; // lazy: same backtracking behaviour
    return range;
  }

  return parseAlternation();
}

// --- the analysis --------------------------------------------------------------------------------------

/** Characters probed to approximate what a one-character atom can match. */
const PROBE = Array.from({ length: 256 }, (_, c) => String.fromCharCode(c)).concat([
  '\u0100',
  '\u4e00',
  '😀',
]);
const charSetCache = new Map<string, Set<string>>();

/** The probe characters an atom matches; a cheap stand-in for its character set. */
function charSet(source: string): Set<string> {
  let set = charSetCache.get(source);
  if (set === undefined) {
    const re = new RegExp(`^(?:${source})$`, 's');
    set = new Set(PROBE.filter((c) => re.test(c)));
    // Bounded: patterns come from users, and the webhook runs for months.
    if (charSetCache.size >= 1000) charSetCache.clear();
    charSetCache.set(source, set);
  }
  return set;
}

function overlaps(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const c of a) if (b.has(c)) return true;
  return false;
}

const ANY = new Set(PROBE);

/** A repetition that can match a varying number of times: the source of ambiguous backtracking. */
function isVariable(item: Item): boolean {
  return item.max > item.min;
}

/** A repetition whose body can run many times with different splits of the input. */
function isLoop(item: Item): boolean {
  return item.max >= 2 && isVariable(item);
}

function isFixedChar(item: Item | undefined): item is Item & { atom: { type: 'char'; source: string } } {
  return item !== undefined && item.atom.type === 'char' && item.min >= 1 && !isVariable(item);
}

/** The characters a branch can start with, or ANY when that is not simple to tell. */
function firstChars(branch: readonly Item[]): Set<string> | undefined {
  const first = branch.find((it) => it.atom.type !== 'assertion');
  if (first === undefined) return undefined; // matches the empty string only
  if (first.atom.type === 'char' && first.min >= 1) return charSet(first.atom.source);
  return ANY;
}

function describeBranches(branches: readonly Item[][]): string {
  return branches.length > 1 ? 'group with alternatives' : 'group';
}

/**
 * Returns why a parsed pattern is dangerous, or undefined. Conservative: a repeated group is
 * accepted only when every iteration is unambiguous, i.e. its alternatives start differently and
 * any repetition inside is fenced by a fixed delimiter it cannot consume (`(\.\d+)*`, `(\d+\.)*`).
 */
function findDanger(branches: readonly Item[][]): string | undefined {
  for (const branch of branches) {
    for (const item of branch) {
      const { atom } = item;
      if (atom.type === 'backref') {
        return 'back-references are not supported (they can make matching very slow)';
      }
      if (atom.type !== 'group') continue;
      if (isLoop(item)) {
        const reason = loopDanger(atom.branches);
        if (reason !== undefined) return reason;
      }
      const inner = findDanger(atom.branches);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

function loopDanger(branches: readonly Item[][]): string | undefined {
  // Alternatives that can start with the same character let each iteration go several ways: (a|a)*.
  const starts = branches.map(firstChars).filter((s): s is Set<string> => s !== undefined);
  for (let x = 0; x < starts.length; x++) {
    for (let y = x + 1; y < starts.length; y++) {
      if (overlaps(starts[x]!, starts[y]!)) {
        return 'a repeated group has alternatives that can match the same text (like (a|a)*), which can take exponential time; make the alternatives start differently';
      }
    }
  }
  // Repetition inside a repetition: (a+)+, (.*)*, (\w+\s?)+.
  const variableChars: Set<string>[] = [];
  for (const branch of branches) {
    for (const it of branch) {
      if (it.atom.type === 'group') {
        if (containsVariable(it.atom.branches) || isVariable(it)) return nestedMessage(branches);
      } else if (it.atom.type === 'char' && isVariable(it)) {
        variableChars.push(charSet(it.atom.source));
      }
    }
  }
  if (variableChars.length === 0) return undefined;
  for (const branch of branches) {
    const fences = [branch[0], branch[branch.length - 1]].filter(isFixedChar);
    const fenced = fences.some((f) => {
      const set = charSet(f.atom.source);
      return variableChars.every((v) => !overlaps(v, set));
    });
    if (!fenced) return nestedMessage(branches);
  }
  return undefined;
}

function containsVariable(branches: readonly Item[][]): boolean {
  return branches.some((b) =>
    b.some((it) => isVariable(it) || (it.atom.type === 'group' && containsVariable(it.atom.branches))),
  );
}

function nestedMessage(branches: readonly Item[][]): string {
  return `a repeated ${describeBranches(branches)} contains another repetition (nested quantifiers like (a+)+ or (.*)*), which can take exponential time; repeat a simpler pattern or fence the inner repetition with a fixed character, e.g. (\\.\\d+)*`;
}
