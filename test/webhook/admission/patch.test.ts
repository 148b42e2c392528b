import assert from 'node:assert/strict';
import fc from 'fast-check';
import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import t from 'tap';
import { annotationPatch, encodePatch } from '../../../webhook/admission/patch.ts';
import type { PatchOperation } from '../../../webhook/admission/patch.ts';

t.test('annotation patches touch only metadata.annotations', (t) => {
  const cases: { name: string; input: { object: object; want: Record<string, string> }; want: unknown[] }[] =
    [
      {
        name: 'keys with / and ~ are escaped as ~1 and ~0',
        input: {
          object: { metadata: { annotations: { 'a/b': '1', 'c~d': '2' } } },
          want: { 'a/b': '9', 'c~d': '2', 'e/f': '3' },
        },
        want: [
          { op: 'replace', path: '/metadata/annotations/a~1b', value: '9' },
          { op: 'add', path: '/metadata/annotations/e~1f', value: '3' },
        ],
      },
      {
        name: 'a removed key is a remove',
        input: { object: { metadata: { annotations: { 'a/b': '1', keep: 'x' } } }, want: { keep: 'x' } },
        want: [{ op: 'remove', path: '/metadata/annotations/a~1b' }],
      },
      {
        name: 'absent annotations are added as a whole map',
        input: { object: { metadata: { name: 'web' } }, want: { 'a/b': '1' } },
        want: [{ op: 'add', path: '/metadata/annotations', value: { 'a/b': '1' } }],
      },
      {
        name: 'null annotations are replaced by the whole map',
        input: { object: { metadata: { annotations: null } }, want: { 'a/b': '1' } },
        want: [{ op: 'add', path: '/metadata/annotations', value: { 'a/b': '1' } }],
      },
      {
        name: 'absent metadata is added with the map',
        input: { object: {}, want: { 'a/b': '1' } },
        want: [{ op: 'add', path: '/metadata', value: { annotations: { 'a/b': '1' } } }],
      },
      {
        name: 'nothing to add to absent annotations is no patch',
        input: { object: { metadata: {} }, want: {} },
        want: [],
      },
      {
        name: 'equal maps are no patch',
        input: { object: { metadata: { annotations: { a: '1' } } }, want: { a: '1' } },
        want: [],
      },
    ];
  for (const c of cases) t.same(annotationPatch(c.input.object as never, c.input.want), c.want, c.name);
  t.end();
});

t.test('the patch is base64 JSON', (t) => {
  const ops = [{ op: 'add' as const, path: '/metadata/annotations/a~1b', value: 'ü' }];
  t.same(JSON.parse(Buffer.from(encodePatch(ops), 'base64').toString('utf8')), ops);
  t.end();
});

t.test('the flat diff makes the operations of fast-json-patch compare, in its order', (t) => {
  // Keys that need escaping, that repeat across both maps, and maps that shrink, grow or reorder.
  const key = fc.constantFrom('a', 'a/b', 'c~d', '~/', 'image-watcher/mode', 'e', 'f/g/h', '');
  const map = fc.dictionary(key, fc.constantFrom('1', '2', '', 'ü'), { maxKeys: 8, noNullPrototype: true });
  fc.assert(
    fc.property(map, map, (before, after) => {
      const ours = annotationPatch({ metadata: { annotations: before } }, after);
      const theirs = fjp.compare({ a: before }, { a: after }).map((op) => ({
        ...op,
        path: `/metadata/annotations${op.path.slice('/a'.length)}`,
      }));
      // Thrown, not asserted: fast-check shrinks a failing pair to the smallest before tap sees it.
      assert.deepStrictEqual(ours, theirs);
      const applied = fjp.applyPatch(structuredClone(before), ours.map(rootAt('')) as Operation[]);
      assert.deepStrictEqual(applied.newDocument, after);
    }),
    { numRuns: 2000 },
  );
  t.pass('2,000 random pairs of maps');
  t.end();
});

/** An operation on the annotations map itself. */
function rootAt(prefix: string) {
  return (op: PatchOperation): PatchOperation => ({
    ...op,
    path: prefix + op.path.slice('/metadata/annotations'.length),
  });
}
