import fc from 'fast-check';
import t from 'tap';
import { SettingsMemo } from '../../shared/settings-memo.ts';

const LIMIT = 4096;
const lastApplied = (name: string) => ({
  'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ metadata: { name } }),
});

/** A memo and how often it computed. */
function counting(opts: { maxEntries?: number; skipWithoutKeys?: boolean } = {}) {
  const memo = new SettingsMemo<number>({
    maxEntries: opts.maxEntries ?? 100,
    maxInputLength: LIMIT,
    ...opts,
  });
  let computed = 0;
  const resolve = (annotations: Record<string, string> | undefined, names: string[] | undefined) =>
    memo.resolve(annotations, names, () => ++computed);
  return { memo, resolve, computed: () => computed };
}

t.test('one computation when what the parser reads is equal', (t) => {
  const base = { 'image-watcher/mode': 'AUTO_UPDATE', 'image-watcher/strategy': 'minor' };
  const m = counting();
  const first = m.resolve(base, ['app']);
  const cases: [string, Record<string, string>][] = [
    ['kubectl last-applied of another object', { ...base, ...lastApplied('other') }],
    ['other annotations', { ...base, team: 'shop' }],
    ['managed keys', { ...base, 'image-watcher/current-version': '1.2.3' }],
    ['another key order', { 'image-watcher/strategy': 'minor', 'image-watcher/mode': 'AUTO_UPDATE' }],
  ];
  for (const [name, annotations] of cases) t.equal(m.resolve(annotations, ['app']), first, name);
  t.equal(m.computed(), 1);
  t.equal(m.memo.size, 1);
  t.end();
});

t.test('computed again when an input differs', (t) => {
  const base = { 'image-watcher/mode': 'AUTO_UPDATE' };
  const m = counting();
  m.resolve(base, ['app']);
  const cases: [string, Record<string, string> | undefined, string[] | undefined][] = [
    ['a value', { 'image-watcher/mode': 'NOTIFICATION' }, ['app']],
    ['a key', { ...base, 'image-watcher/strategy': 'minor' }, ['app']],
    ['the containers', base, ['app', 'side']],
    ['no container list', base, undefined],
    ['no annotations', undefined, ['app']],
    // Same lengths and the same first, middle and last characters: the same hash, told apart.
    ['a value of the same hash', { 'image-watcher/mode': 'AXTO_UPDATE' }, ['app']],
  ];
  for (const [name, annotations, names] of cases) {
    const before = m.computed();
    m.resolve(annotations, names);
    t.equal(m.computed(), before + 1, name);
  }
  for (const [name, annotations, names] of cases) {
    const before = m.computed();
    m.resolve(annotations, names);
    t.equal(m.computed(), before, `${name}, again: remembered`);
  }
  t.end();
});

t.test('not remembered when too long, or without a user key when told so; starts over when full', (t) => {
  const m = counting({ skipWithoutKeys: true, maxEntries: 2 });
  for (let i = 0; i < 2; i++) {
    m.resolve({ 'image-watcher/include': 'x'.repeat(5000) }, ['app']);
    m.resolve({ 'image-watcher/mode': 'AUTO_UPDATE' }, ['a'.repeat(5000)]);
    m.resolve(lastApplied('web'), ['app']);
  }
  t.equal(m.computed(), 6, 'each computed every time');
  t.equal(m.memo.size, 0);
  const kept = counting();
  kept.resolve(lastApplied('web'), ['app']);
  kept.resolve(lastApplied('db'), ['app']);
  t.equal(kept.computed(), 1, 'defaults only, remembered by the container names');
  m.resolve({ 'image-watcher/mode': 'A' }, []);
  m.resolve({ 'image-watcher/mode': 'B' }, []);
  m.resolve({ 'image-watcher/mode': 'C' }, []);
  t.equal(m.memo.size, 1, 'past maxEntries the memo starts over');
  t.end();
});

t.test('the remembered result only for equal inputs, whatever the characters', (t) => {
  // Few characters and short strings: many inputs share lengths, ends and hashes.
  const text = fc.string({ unit: fc.constantFrom('a', 'b', '\0', '|', '"'), maxLength: 5 });
  const inputs = fc.record({
    annotations: fc.dictionary(
      fc.constantFrom('image-watcher/mode', 'image-watcher/include', 'image-watcher/exclude', 'team'),
      text,
      { maxKeys: 4, noNullPrototype: true },
    ),
    names: fc.option(fc.array(text, { maxLength: 3 }), { nil: undefined }),
  });
  const read = (i: { annotations: Record<string, string>; names: string[] | undefined }) =>
    JSON.stringify([
      Object.keys(i.annotations)
        .filter((k) => k.startsWith('image-watcher/'))
        .sort()
        .map((k) => [k, i.annotations[k]]),
      i.names ?? null,
    ]);
  fc.assert(
    fc.property(fc.array(inputs, { minLength: 2, maxLength: 12 }), (list) => {
      const memo = new SettingsMemo<string>({ maxEntries: 100, maxInputLength: LIMIT });
      // Each result is its own inputs read back: a wrong hit shows as a mismatch.
      for (const i of list) {
        const got = memo.resolve(i.annotations, i.names, () => read(i));
        // Thrown, not asserted: fast-check shrinks a counterexample first.
        if (got !== read(i)) throw new Error(`${read(i)} answered with ${got}`);
      }
    }),
    { numRuns: 3000 },
  );
  t.pass('3,000 random sequences');
  t.end();
});
