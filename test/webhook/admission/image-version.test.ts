import t from 'tap';
import { cachedImageVersion, imageVersion } from '../../../webhook/admission/review.ts';

const images = [
  'nginx:1.27.1',
  'ghcr.io/acme/shop:v2.3.0-rc.1',
  'registry.local:5000/team/app@sha256:' + 'a'.repeat(64),
  'redis',
  'Bad Image!',
  'nginx:1.27.1', // a repeat: served from the memo
];

t.test('the memo answers exactly what imageVersion answers', (t) => {
  const memo = cachedImageVersion();
  for (const image of images) t.same(memo(image), imageVersion(image), image);
  t.match(memo('Bad Image!'), { error: String }, 'a bad reference keeps its reason');
  t.same(memo('nginx:1.27.1'), { version: '1.27.1' }, 'the tag is the version');
  t.end();
});

t.test('it is bounded: full, it starts again; long references are never kept', (t) => {
  const memo = cachedImageVersion(2);
  const first = memo('a:1');
  t.equal(memo('a:1'), first, 'a hit is the kept answer');
  memo('b:1');
  memo('c:1'); // the third entry clears the full memo
  t.not(memo('a:1'), first, 'dropped wholesale when full');
  const long = `${'x'.repeat(600)}:1`;
  t.not(memo(long), memo(long), 'a reference over 512 characters is answered, not kept');
  t.end();
});

t.test('each webhook has its own memo', (t) => {
  const a = cachedImageVersion();
  const b = cachedImageVersion();
  t.not(a('nginx:1'), b('nginx:1'));
  t.same(a('nginx:1'), b('nginx:1'));
  t.end();
});
