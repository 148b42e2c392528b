import t from 'tap';
import { annotationPatch, encodePatch } from '../../../webhook/admission/patch.ts';

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
