// Fuzz target: the annotation schema (parseWatchSettings, formatProblems, user patterns).
import fc from 'fast-check';
import t from 'tap';
import {
  MANAGED_KEYS,
  MODES,
  PREFIX,
  USER_KEYS,
  formatProblems,
  parseWatchSettings,
} from '../../shared/annotations.ts';
import type { ParseOptions } from '../../shared/annotations.ts';
import { compileUserPattern, InvalidPatternError } from '../../shared/regex.ts';
import { showText } from '../../shared/show.ts';
import { STRATEGIES } from '../../shared/strategy.ts';
import { RAW_CONTROL, SEED, corpus, params } from './support.ts';

t.comment(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);

interface Input {
  pairs: [string, string][];
  containerNames?: string[];
}

/** One problem: the key shown at the start (escaped, cut) and at most this long. */
const MAX_PROBLEM = 2048;
/** formatProblems: ten problems and a count. */
const MAX_FORMATTED = 10 * (MAX_PROBLEM + 8) + 64;

const KNOWN = [...USER_KEYS, ...MANAGED_KEYS];
/** Pieces of regex syntax, JavaScript-only ones included, glued into patterns. */
const REGEX_TOKENS = [
  'a', '1', '.', '*', '+', '?', '|', '^', '$', '(', ')', '(?:', '(?=', '(?!', '(?<=', '(?<n>', '[', ']',
  '[^a]', '{', '}', '{2}', '{1,3}', '{1001}', '\\', '\\d', '\\w', '\\s', '\\b', '\\1', '\\k<', '\\k<n>',
  '\\u', '\\u{', '\\u0041', '\\x', '\\x41', '\\x{41}', '\\p{L}', '\\pL', '\\Q', '\\E', '(?i)', '-', ',',
  '\u0007', '😀',
]; // prettier-ignore

const anyText = (maxLength: number) => fc.string({ unit: 'binary', maxLength });
const pattern = fc.array(fc.constantFrom(...REGEX_TOKENS), { maxLength: 24 }).map((xs) => xs.join(''));
const containerName = fc.oneof(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/), anyText(12));
/** A known key with one character inserted, dropped or changed: the "did you mean" path. */
const misspelt = fc
  .tuple(
    fc.constantFrom(...KNOWN),
    fc.nat(),
    fc.constantFrom('insert', 'drop', 'change'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  )
  .map(([key, n, op, c]) => {
    const i = PREFIX.length + (n % (key.length - PREFIX.length));
    if (op === 'insert') return key.slice(0, i) + c + key.slice(i);
    if (op === 'drop') return key.slice(0, i) + key.slice(i + 1);
    return key.slice(0, i) + c + key.slice(i + 1);
  });
const key = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KNOWN) },
  { weight: 2, arbitrary: misspelt },
  { weight: 2, arbitrary: anyText(40).map((s) => PREFIX + s) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 20_000 }).map((n) => PREFIX + 'k'.repeat(n)) },
  { weight: 1, arbitrary: anyText(20) },
);
const value = fc.oneof(
  anyText(200),
  pattern,
  fc.constantFrom(...MODES, ...STRATEGIES, 'auto_update', 'minor', ' ', ''),
  fc.array(containerName, { maxLength: 12 }).map((xs) => xs.join(',')),
  fc.webUrl().map((u) => `${u}/\${tag}`),
  fc.integer({ min: 200, max: 20_000 }).map((n) => 'v'.repeat(n)),
);
const input: fc.Arbitrary<Input> = fc.record(
  {
    pairs: fc.array(fc.tuple(key, value), { maxLength: 8 }),
    containerNames: fc.uniqueArray(containerName, { maxLength: 12 }),
  },
  { requiredKeys: ['pairs'] },
);

function check(i: Input): void {
  const annotations = Object.fromEntries(i.pairs) as Record<string, string>;
  const opts: ParseOptions = i.containerNames === undefined ? {} : { containerNames: i.containerNames };
  const result = parseWatchSettings(annotations, opts); // must not throw
  if (result.ok) {
    const s = result.settings;
    if (!MODES.includes(s.mode)) throw new Error(`mode ${s.mode}`);
    if (!STRATEGIES.includes(s.strategy)) throw new Error(`strategy ${s.strategy}`);
    for (const p of [s.include, s.exclude]) {
      if (p !== undefined && typeof p.test('1.2.3-rc1') !== 'boolean') throw new Error('test is not boolean');
    }
    return;
  }
  if (result.problems.length === 0) throw new Error('not ok without problems');
  for (const p of result.problems) {
    if (!Object.hasOwn(annotations, p.key)) throw new Error(`problem names a key not in the input: ${p.key}`);
    if (!p.key.startsWith(PREFIX)) throw new Error(`problem for a key outside the prefix: ${p.key}`);
    // The message starts with the key as shown (escaped and cut): it names the key.
    const shown = showText(p.key, 120, false);
    if (!p.message.startsWith(shown.slice(0, 40)))
      throw new Error(`message does not name ${shown}: ${p.message}`);
    if (p.message.length > MAX_PROBLEM) throw new Error(`message of ${p.message.length} characters`);
    if (RAW_CONTROL.test(p.message)) throw new Error(`raw control character in ${JSON.stringify(p.message)}`);
  }
  const all = formatProblems(result.problems);
  if (all.length > MAX_FORMATTED) throw new Error(`formatted message of ${all.length} characters`);
  if (RAW_CONTROL.test(all)) throw new Error('raw control character in the formatted message');
  // Deterministic: the same input gives the same answer.
  const again = parseWatchSettings(annotations, opts);
  if (again.ok || formatProblems(again.problems) !== all) throw new Error('not deterministic');
}

const CORPUS = corpus<Input>('annotations');

t.test('the corpus replays: the attacks of the security review and past findings', (t) => {
  for (const [n, entry] of CORPUS.entries()) t.doesNotThrow(() => check(entry), `corpus entry ${n}`);
  t.end();
});

t.test('parseWatchSettings never throws; problems name a key, are bounded and escaped', (t) => {
  fc.assert(fc.property(input, check), params<[Input]>());
  t.pass('property held');
  t.end();
});

t.test(
  'compileUserPattern only ever throws InvalidPatternError, and accepted patterns only return booleans',
  (t) => {
    fc.assert(
      fc.property(fc.oneof(pattern, anyText(40)), anyText(130), (source, tag) => {
        let compiled;
        try {
          compiled = compileUserPattern(source);
        } catch (err) {
          if (err instanceof InvalidPatternError && !RAW_CONTROL.test(err.message)) return;
          throw err;
        }
        if (typeof compiled.test(tag) !== 'boolean') throw new Error('not a boolean');
      }),
      params<[string, string]>(),
    );
    t.pass('property held');
    t.end();
  },
);
