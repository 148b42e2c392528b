import t from 'tap';
import { ImageWatcherError } from '../../shared/errors.ts';
import { compileUserRegex, MAX_PATTERN_LENGTH, UnsafeRegexError } from '../../shared/regex.ts';

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
    name: 'a negative lookahead excluding release candidates is accepted',
    pattern: '^(?!.*rc)',
    matches: ['1.0'],
    rejects: ['1.0-rc1'],
  },
  {
    name: 'an alternation at the top level is accepted',
    pattern: 'alpine|slim',
    matches: ['3-slim'],
    rejects: ['3'],
  },
  {
    name: 'a literal brace without a quantifier is accepted',
    pattern: 'a{b',
    matches: ['a{b'],
    rejects: ['ab'],
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
];

t.test('safe patterns compile and match as written', (t) => {
  for (const c of accepted) {
    t.test(c.name, (t) => {
      const re = compileUserRegex(c.pattern);
      for (const s of c.matches) t.ok(re.test(s), `matches ${s}`);
      for (const s of c.rejects) t.notOk(re.test(s), `does not match ${s}`);
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
  { name: 'a nested plus anchored at the end is refused', pattern: '(a+)+$', reason: /nested quantifiers/ },
  { name: 'a star of a star is refused', pattern: '(.*)*', reason: /nested quantifiers/ },
  {
    name: 'a repeated alternation of identical branches is refused',
    pattern: '(a|a)*',
    reason: /alternatives that can match the same text/,
  },
  {
    name: 'words with optional spaces repeated are refused',
    pattern: '^(\\w+\\s?)+$',
    reason: /nested quantifiers/,
  },
  {
    name: 'a bounded inner repetition under a plus is refused',
    pattern: '(a{1,5})+',
    reason: /nested quantifiers/,
  },
  {
    name: 'alternatives sharing a first character under a star are refused',
    pattern: '(a|ab)*c',
    reason: /alternatives/,
  },
  { name: 'an optional alternative under a plus is refused', pattern: '(a|a?)+', reason: /alternatives/ },
  { name: 'a non-capturing nested star is refused', pattern: '(?:x*)*y', reason: /nested quantifiers/ },
  {
    name: 'a group nested in a repeated group is refused',
    pattern: '((ab)*c)*',
    reason: /nested quantifiers/,
  },
  {
    name: 'fenced alternatives whose repetitions can eat the other fence are refused',
    pattern: '(\\.[\\w-]+|-\\d+)*',
    reason: /nested quantifiers/,
  },
  { name: 'a dot-plus fenced by a dot is refused', pattern: '^(.+\\.)*$', reason: /nested quantifiers/ },
  {
    name: 'the classic email-like pattern is refused',
    pattern: '^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*$',
    reason: /nested quantifiers/,
  },
  { name: 'a numbered back-reference is refused', pattern: '(a)\\1', reason: /back-references/ },
  { name: 'a named back-reference is refused', pattern: '(?<x>a)\\k<x>', reason: /back-references/ },
  {
    name: 'an unterminated group is refused as invalid',
    pattern: '(',
    reason: /not a valid regular expression/,
  },
  {
    name: 'an unterminated class is refused as invalid',
    pattern: '[a-',
    reason: /not a valid regular expression/,
  },
  {
    name: 'a dangling quantifier is refused as invalid',
    pattern: '*abc',
    reason: /not a valid regular expression/,
  },
  {
    name: 'a pattern over the length limit is refused',
    pattern: 'a'.repeat(MAX_PATTERN_LENGTH + 1),
    reason: /the limit is 256/,
  },
  {
    name: 'a nested repetition deep inside a lookahead is refused',
    pattern: '^(?=(a+)+b)',
    reason: /nested quantifiers/,
  },
];

t.test('dangerous or invalid patterns are refused with the reason', (t) => {
  for (const c of rejected) {
    t.test(c.name, (t) => {
      const err = t.throws(() => compileUserRegex(c.pattern));
      t.ok(err instanceof UnsafeRegexError, 'an UnsafeRegexError');
      t.ok(err instanceof ImageWatcherError, 'an ImageWatcherError');
      const e = err as UnsafeRegexError;
      t.equal(e.code, 'E_REGEX');
      t.equal(e.pattern, c.pattern);
      t.match(e.reason, c.reason);
      t.match(e.message, e.reason);
      t.end();
    });
  }
  t.end();
});

t.test('the message quotes the pattern as written, without doubled backslashes', (t) => {
  const err = t.throws(() => compileUserRegex('(\\d+)+$')) as UnsafeRegexError;
  t.match(err.message, 'pattern "(\\d+)+$" is not allowed');
  t.end();
});

t.test('the message shortens a long pattern', (t) => {
  const err = t.throws(() => compileUserRegex('b'.repeat(300))) as UnsafeRegexError;
  t.ok(err.message.length < 200, 'short message');
  t.match(err.message, /\.\.\./);
  t.end();
});

t.test('accepted patterns finish quickly on inputs built to make backtracking explode', (t) => {
  // A tag is at most 128 characters; an exponential pattern would hang here.
  const hostile = [
    'a'.repeat(60) + '!',
    '1.'.repeat(60) + 'x',
    'ab'.repeat(60) + 'c',
    'v' + '.a-1'.repeat(30) + '#',
  ];
  for (const c of accepted) {
    const re = compileUserRegex(c.pattern);
    for (const s of hostile) re.test(s);
  }
  t.pass('all patterns returned');
  t.end();
});
