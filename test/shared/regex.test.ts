import t from 'tap';
import { ImageWatcherError } from '../../shared/errors.ts';
import { findLatestTag } from '../../shared/strategy.ts';
import {
  compileUserPattern,
  InvalidPatternError,
  MAX_PATTERN_LENGTH,
  MAX_PROGRAM_SIZE,
  RE2_SYNTAX_URL,
} from '../../shared/regex.ts';

interface Accepted {
  name: string;
  pattern: string;
  matches: string[];
  rejects: string[];
}

const accepted: Accepted[] = [
  {
    name: 'a strict semver filter is accepted',
    pattern: '^v?\\d+\\.\\d+\\.\\d+$',
    matches: ['1.2.3', 'v10.0.1'],
    rejects: ['1.2', '1.2.3-rc1'],
  },
  {
    name: 'a variant suffix filter is accepted',
    pattern: '-alpine$',
    matches: ['1.25-alpine'],
    rejects: ['1.25'],
  },
  {
    name: 'a prefix filter on a major line is accepted',
    pattern: '^1\\.2[0-9]\\.',
    matches: ['1.25.3'],
    rejects: ['2.25.3'],
  },
  {
    name: 'a dotted repetition fenced by a leading dot is accepted',
    pattern: '^\\d+(\\.\\d+)*$',
    matches: ['1', '1.2.3.4'],
    rejects: ['1.', 'a.1'],
  },
  {
    name: 'a dotted repetition fenced by a trailing dot is accepted',
    pattern: '^(\\d+\\.)*\\d+$',
    matches: ['1.2.3'],
    rejects: ['1..2'],
  },
  {
    name: 'repeated alternatives that start differently are accepted',
    pattern: '^(ab|cd)+$',
    matches: ['abcdab'],
    rejects: ['abc'],
  },
  {
    name: 'fenced alternatives with disjoint inner repetitions are accepted',
    pattern: '^v(\\.\\w+|-\\d+)*$',
    matches: ['v.a-1', 'v'],
    rejects: ['v-a'],
  },
  {
    name: 'a bounded repetition of a character class is accepted',
    pattern: '^[a-z]{2,5}$',
    matches: ['abc'],
    rejects: ['a'],
  },
  {
    name: 'an alternation at the top level is accepted',
    pattern: 'alpine|slim',
    matches: ['3-slim'],
    rejects: ['3'],
  },
  {
    name: 'a fixed-count repeated group is accepted',
    pattern: '^(\\d{2}\\.){2}\\d{2}$',
    matches: ['24.05.01'],
    rejects: ['24.5.1'],
  },
  {
    name: 'an optional group is accepted',
    pattern: '^(v\\d+)?-?latest$',
    matches: ['v1-latest', 'latest'],
    rejects: ['v-latest'],
  },
  { name: 'an empty pattern matches everything', pattern: '', matches: ['anything'], rejects: [] },
  {
    name: 'a pattern of exactly the maximum length is accepted',
    pattern: 'a'.repeat(MAX_PATTERN_LENGTH),
    matches: ['a'.repeat(MAX_PATTERN_LENGTH)],
    rejects: ['a'],
  },
  {
    name: 'a class containing a closing bracket escape is accepted',
    pattern: '^[\\]a]+$',
    matches: [']a'],
    rejects: ['b'],
  },
  {
    name: 'a named group without back-reference is accepted',
    pattern: '^(?<major>\\d+)\\.',
    matches: ['1.2'],
    rejects: ['x.2'],
  },
  {
    name: 'nested repetition is accepted: RE2 matches it in linear time',
    pattern: '^(\\w+\\s?)+$',
    matches: ['a b c'],
    rejects: ['a  b'],
  },
  {
    name: 'inline flags are accepted',
    pattern: '(?i)^V\\d',
    matches: ['v1', 'V2'],
    rejects: ['x1'],
  },
  {
    name: 'a code point escape in RE2 form is accepted',
    pattern: '^\\x{61}\\x62$',
    matches: ['ab'],
    rejects: ['a'],
  },
  {
    name: 'the backtracking patterns of the security review are accepted: linear in RE2 (1/3)',
    pattern: '.*.*.*.*.*.*.*.*x',
    matches: ['abcx'],
    rejects: ['abc'],
  },
  {
    name: 'the backtracking patterns of the security review are accepted: linear in RE2 (2/3)',
    pattern: '(.*a){12}$',
    matches: ['a'.repeat(12)],
    rejects: ['a'.repeat(11)],
  },
  {
    name: 'the backtracking patterns of the security review are accepted: linear in RE2 (3/3)',
    pattern: '^(.*\\.){10}x$',
    matches: ['.'.repeat(10) + 'x'],
    rejects: ['.'.repeat(9) + 'x'],
  },
];

t.test('accepted patterns compile and match as written', (t) => {
  for (const c of accepted) {
    t.test(c.name, (t) => {
      const p = compileUserPattern(c.pattern);
      t.equal(p.source, c.pattern);
      for (const s of c.matches) t.ok(p.test(s), `matches ${s}`);
      for (const s of c.rejects) t.notOk(p.test(s), `does not match ${s}`);
      t.end();
    });
  }
  t.end();
});

interface Rejected {
  name: string;
  pattern: string;
  reason: RegExp;
}

const rejected: Rejected[] = [
  // Security review: valid JavaScript without the u flag, and the old checker never returned on them.
  { name: 'a dangling named back-reference is refused', pattern: '\\k<', reason: /backreferences/ },
  { name: 'an open code point escape is refused', pattern: '\\u{', reason: /\\u is not supported/ },
  {
    name: 'a code point escape after a literal is refused',
    pattern: 'a\\u{1',
    reason: /\\u is not supported/,
  },
  {
    name: 'a \\x without digits is refused (security review)',
    pattern: '(\\d+\\x?)+$',
    reason: /not valid RE2 syntax/,
  },
  {
    name: 'an optional \\u is refused (security review)',
    pattern: '(a+\\u?)+$',
    reason: /\\u is not supported/,
  },
  { name: 'a numbered back-reference is refused', pattern: '(a)\\1', reason: /backreferences/ },
  { name: 'a named back-reference is refused', pattern: '(?<x>a)\\k<x>', reason: /backreferences/ },
  { name: 'a lookahead is refused', pattern: '^(?!.*rc)', reason: /lookahead and lookbehind/ },
  { name: 'a lookbehind is refused', pattern: '(?<=v)1', reason: /lookahead and lookbehind/ },
  { name: 'a negative lookbehind is refused', pattern: '(?<!v)1', reason: /lookahead and lookbehind/ },
  {
    name: 'an unterminated group is refused',
    pattern: '(',
    reason: /not valid RE2 syntax \(missing closing \)/,
  },
  { name: 'an unterminated class is refused', pattern: '[a-', reason: /not valid RE2 syntax/ },
  {
    name: 'a dangling quantifier is refused',
    pattern: '*abc',
    reason: /missing argument to repetition operator/,
  },
  { name: 'a literal brace with a count is refused', pattern: 'a{1001}', reason: /invalid repeat count/ },
  {
    name: 'a nested repetition over 1000 is refused',
    pattern: '(a{100}){100}',
    reason: /invalid repeat count/,
  },
  {
    name: 'a repetition RE2 finds too large is refused',
    pattern: '(?:a{0,1000}){0,1000}',
    reason: /not valid RE2 syntax \(expression too large\)/,
  },
  {
    name: 'a program over the size limit is refused',
    pattern: '[\\pL\\pN]{0,999}',
    reason: new RegExp(`too large \\(\\d+ instructions compiled; the limit is ${MAX_PROGRAM_SIZE}\\)`),
  },
  {
    name: 'a pattern over the length limit is refused',
    pattern: 'a'.repeat(MAX_PATTERN_LENGTH + 1),
    reason: /the limit is 256/,
  },
];

t.test('patterns RE2 cannot express, or too big, are refused with the reason', (t) => {
  for (const c of rejected) {
    t.test(c.name, (t) => {
      const err = t.throws(() => compileUserPattern(c.pattern));
      t.ok(err instanceof InvalidPatternError, 'an InvalidPatternError');
      t.ok(err instanceof ImageWatcherError, 'an ImageWatcherError');
      const e = err as InvalidPatternError;
      t.equal(e.code, 'E_REGEX');
      t.equal(e.pattern, c.pattern);
      t.match(e.reason, c.reason);
      t.match(e.message, e.reason);
      // Syntax denials say what is allowed; size and length denials say the limit instead.
      if (!/too large|characters long/.test(e.reason)) t.match(e.reason, RE2_SYNTAX_URL, 'links the syntax');
      t.end();
    });
  }
  t.end();
});

t.test('the message quotes the pattern as written, without doubled backslashes', (t) => {
  const err = t.throws(() => compileUserPattern('(a)\\1')) as InvalidPatternError;
  t.match(err.message, 'pattern "(a)\\\\1" is not allowed');
  t.end();
});

t.test('the message shortens a long pattern and escapes control characters', (t) => {
  const long = t.throws(() => compileUserPattern('b'.repeat(300))) as InvalidPatternError;
  t.ok(long.message.length < 200, 'short message');
  t.match(long.message, /…" \(300 characters\)/);
  const bell = t.throws(() => compileUserPattern('\u0007(?<x\u0007')) as InvalidPatternError;
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  t.notMatch(bell.message, /[\u0000-\u001f]/, 'no raw control character');
  t.match(bell.message, /\\u0007/);
  t.end();
});

t.test('the backtracking patterns of the security review return on hostile 100-character inputs', (t) => {
  // A backtracking engine takes exponential time on these; RE2 answers in one pass each.
  const patterns = [
    '.*.*.*.*.*.*.*.*x',
    '(.*a){12}$',
    '^(.*\\.){10}x$',
    '(\\d+\\x{3f}?)+$',
    '(a+\\x{75}?)+$',
  ];
  const inputs = ['a'.repeat(99) + '!', '.'.repeat(99) + '!', '1'.repeat(99) + '!', 'a'.repeat(100)];
  const results = patterns.map((p) => inputs.map((s) => compileUserPattern(p).test(s)));
  t.same(results, [
    [false, false, false, false],
    [false, false, false, true],
    [false, false, false, false],
    [false, false, false, false],
    [false, false, false, true],
  ]);
  t.end();
});

t.test(
  'selecting among 10,000 hostile 100-character tags with each accepted pattern of the security review returns',
  (t) => {
    // Ascending versions: every tag beats the one before, so every tag reaches the pattern.
    const tags = Array.from({ length: 10_000 }, (_, i) => {
      const head = `1.0.${i + 1}+`;
      return head + 'a.'.repeat(50).slice(0, 100 - head.length);
    });
    const want: [string, string | undefined][] = [
      ['.*.*.*.*.*.*.*.*x', undefined],
      ['(.*a){12}$', '1.0.9999+'],
      ['^(.*\\.){10}x$', undefined],
      ['(a|\\.)*a(a|\\.){20}$', '1.0.9999+'],
    ];
    for (const [source, prefix] of want) {
      const latest = findLatestTag('1.0.0', tags, { strategy: 'ALL', include: compileUserPattern(source) });
      if (prefix === undefined) t.equal(latest, undefined, source);
      else t.equal(latest?.tag.slice(0, prefix.length), prefix, source);
    }
    t.end();
  },
);
