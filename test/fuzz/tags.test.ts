// Fuzz target: tags read as versions (parseTag) and their order (compareTags, findLatestTag).
import fc from 'fast-check';
import t from 'tap';
import { compileUserPattern } from '../../shared/regex.ts';
import { STRATEGIES, findLatestTag } from '../../shared/strategy.ts';
import { compareTags, parseTag } from '../../shared/version.ts';
import type { ParsedTag } from '../../shared/version.ts';
import { SEED, corpus, params } from './support.ts';

t.comment(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);

/** parseTag never throws; a result is well-formed and keeps the tag as listed. */
function checkParse(tag: string): ParsedTag | undefined {
  const p = parseTag(tag);
  if (p === undefined) return undefined;
  if (p.raw !== tag) throw new Error('raw changed');
  if (tag.length > 128) throw new Error('a tag over 128 characters parsed');
  if (p.numbers.length < 1 || p.numbers.length > 4) throw new Error(`${p.numbers.length} numbers`);
  if (!p.numbers.every((n) => Number.isSafeInteger(n) && n >= 0))
    throw new Error(`numbers ${p.numbers.join()}`);
  if (p.revision !== undefined && !Number.isSafeInteger(p.revision)) throw new Error('revision');
  if (compareTags(p, p) !== 0) throw new Error('not reflexive');
  return p;
}

const sign = (n: number): number => (n > 0 ? 1 : n < 0 ? -1 : 0);

/** Version-shaped tags (most parse), so the order properties see many pairs. */
const num = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 999_999_999_999_999 }));
const versionTag = fc
  .tuple(
    fc.constantFrom('', 'v', 'release-'),
    fc.array(num, { minLength: 1, maxLength: 4 }),
    fc.option(fc.tuple(fc.constantFrom('-rc', '-beta', '-alpha.', 'a', '.M', '-SNAPSHOT'), fc.option(num))),
    fc.option(fc.constantFrom('alpine', 'alpine3.19', 'bookworm-slim', 'debian-12')),
    fc.option(fc.integer({ min: 0, max: 50 })),
    fc.option(fc.stringMatching(/^[0-9a-z.]{1,8}$/)),
  )
  .map(([prefix, numbers, pre, variant, rev, build]) => {
    let s = prefix + numbers.join('.');
    if (pre !== null) s += pre[0] + (pre[1] === null ? '' : String(pre[1]));
    if (variant !== null) s += `-${variant}`;
    if (rev !== null) s += `-r${rev}`;
    if (build !== null) s += `+${build}`;
    return s;
  });
const anyTag = fc.oneof(
  versionTag,
  fc.string({ unit: fc.constantFrom(...'0123456789.-+_vrcaM'), maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 140 }),
);
const parsed = versionTag.map(parseTag).filter((p): p is ParsedTag => p !== undefined);

const CORPUS = corpus<string>('tags');

t.test('the corpus replays: hostile tags and past findings', (t) => {
  for (const tag of CORPUS) t.doesNotThrow(() => checkParse(tag), JSON.stringify(tag.slice(0, 40)));
  t.end();
});

t.test('parseTag never throws and gives well-formed versions', (t) => {
  fc.assert(
    fc.property(anyTag, (tag) => void checkParse(tag)),
    params<[string]>(),
  );
  t.pass('property held');
  t.end();
});

t.test('compareTags is a total preorder: antisymmetric and transitive', (t) => {
  fc.assert(
    fc.property(parsed, parsed, parsed, (a, b, c) => {
      const ab = compareTags(a, b);
      if (![-1, 0, 1].includes(ab)) throw new Error(`compareTags returned ${ab}`);
      if (sign(ab) !== -sign(compareTags(b, a))) throw new Error(`${a.raw} vs ${b.raw}: not antisymmetric`);
      if (ab <= 0 && compareTags(b, c) <= 0 && compareTags(a, c) > 0) {
        throw new Error(`${a.raw} <= ${b.raw} <= ${c.raw} but ${a.raw} > ${c.raw}`);
      }
      if (ab === 0 && sign(compareTags(a, c)) !== sign(compareTags(b, c))) {
        throw new Error(`${a.raw} = ${b.raw} compare differently with ${c.raw}`);
      }
    }),
    params<[ParsedTag, ParsedTag, ParsedTag]>(
      CORPUS.map(parseTag)
        .filter((p): p is ParsedTag => p !== undefined)
        .map((p) => [p, p, p]),
    ),
  );
  t.pass('property held');
  t.end();
});

t.test('findLatestTag picks a newer listed tag, whatever the order of the list', (t) => {
  const include = fc.option(fc.constantFrom('^v', '-alpine$', '(.*a){3}', '\\d$', '^1\\.'));
  fc.assert(
    fc.property(
      versionTag,
      fc.array(anyTag, { maxLength: 30 }),
      fc.constantFrom(...STRATEGIES),
      include,
      (current, tags, strategy, source) => {
        const sel = { strategy, include: source === null ? undefined : compileUserPattern(source) };
        const got = findLatestTag(current, tags, sel);
        const reversed = findLatestTag(current, [...tags].reverse(), sel);
        if (JSON.stringify(got) !== JSON.stringify(reversed)) throw new Error('depends on the order');
        if (got === undefined) return;
        if (!tags.includes(got.tag)) throw new Error(`${got.tag} is not in the list`);
        const from = parseTag(current)!;
        if (compareTags(parseTag(got.tag)!, from) <= 0)
          throw new Error(`${got.tag} is not newer than ${current}`);
        if (sel.include !== undefined && !sel.include.test(got.tag)) throw new Error('include not applied');
      },
    ),
    params<[string, string[], (typeof STRATEGIES)[number], string | null]>(),
  );
  t.pass('property held');
  t.end();
});
