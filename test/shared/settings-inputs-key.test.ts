import fc from 'fast-check';
import t from 'tap';
import { settingsInputsKey, settingsKeyIsEmpty } from '../../shared/annotations.ts';

const LIMIT = 4096;
const lastApplied = (name: string) => ({
  'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ metadata: { name } }),
});

t.test('equal when what the parser reads is equal', (t) => {
  const base = { 'image-watcher/mode': 'AUTO_UPDATE', 'image-watcher/strategy': 'minor' };
  const key = settingsInputsKey(base, ['app'], LIMIT);
  const cases: [string, Record<string, string>][] = [
    ['kubectl last-applied of another object', { ...base, ...lastApplied('other') }],
    ['other annotations', { ...base, team: 'shop' }],
    ['managed keys', { ...base, 'image-watcher/current-version': '1.2.3' }],
    ['another key order', { 'image-watcher/strategy': 'minor', 'image-watcher/mode': 'AUTO_UPDATE' }],
  ];
  for (const [name, annotations] of cases) t.equal(settingsInputsKey(annotations, ['app'], LIMIT), key, name);
  t.end();
});

t.test('different when an input differs', (t) => {
  const base = { 'image-watcher/mode': 'AUTO_UPDATE' };
  const key = settingsInputsKey(base, ['app'], LIMIT);
  t.not(settingsInputsKey({ 'image-watcher/mode': 'NOTIFICATION' }, ['app'], LIMIT), key, 'a value');
  t.not(settingsInputsKey({ ...base, 'image-watcher/strategy': 'minor' }, ['app'], LIMIT), key, 'a key');
  t.not(settingsInputsKey(base, ['app', 'side'], LIMIT), key, 'the containers');
  t.not(settingsInputsKey(base, undefined, LIMIT), key, 'no container list');
  t.end();
});

t.test('no key when too long to keep; no image-watcher key is an empty key', (t) => {
  t.equal(settingsInputsKey({ 'image-watcher/include': 'x'.repeat(5000) }, ['app'], LIMIT), undefined);
  t.equal(settingsInputsKey({ 'image-watcher/mode': 'AUTO_UPDATE' }, ['a'.repeat(5000)], LIMIT), undefined);
  t.ok(settingsKeyIsEmpty(settingsInputsKey(lastApplied('web'), ['app'], LIMIT)!));
  t.ok(settingsKeyIsEmpty(settingsInputsKey(undefined, undefined, LIMIT)!));
  t.notOk(settingsKeyIsEmpty(settingsInputsKey({ 'image-watcher/mode': 'AUTO_UPDATE' }, ['app'], LIMIT)!));
  t.end();
});

t.test('equal keys only for equal inputs, whatever the characters', (t) => {
  // Values and names made of the characters the encoding itself uses.
  const text = fc.string({ unit: fc.constantFrom('\0', '0', '1', '-', 'a', '"', '\\', ','), maxLength: 6 });
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
    fc.property(inputs, inputs, (a, b) => {
      const ka = settingsInputsKey(a.annotations, a.names, LIMIT);
      const kb = settingsInputsKey(b.annotations, b.names, LIMIT);
      // Thrown, not asserted: fast-check shrinks a counterexample first. No key only for a NUL.
      for (const [k, i] of [
        [ka, a],
        [kb, b],
      ] as const) {
        if (k === undefined && !read(i).includes('\\u0000')) throw new Error(`no key for ${read(i)}`);
      }
      if (ka === undefined || kb === undefined) return;
      if ((ka === kb) !== (read(a) === read(b)))
        throw new Error(`keys ${ka === kb ? 'equal' : 'differ'} for ${read(a)} and ${read(b)}`);
    }),
    { numRuns: 5000 },
  );
  t.pass('5,000 random pairs');
  t.end();
});
