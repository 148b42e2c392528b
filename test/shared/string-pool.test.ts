import t from 'tap';
import { StringPool } from '../../shared/string-pool.ts';

t.test('a pool hands out one copy per value', (t) => {
  const pool = new StringPool();
  const parts = ['ns', 'shop'];
  const a = pool.get(parts.join('-'));
  const b = pool.get(`${parts[0]!}-${parts[1]!}`);
  t.equal(a, 'ns-shop');
  t.equal(b, 'ns-shop');
  t.equal(pool.size, 1, 'the second equal value is the pooled one');
  t.equal(pool.maybe(undefined), undefined);
  t.equal(pool.maybe('x'), 'x');
  t.equal(pool.size, 2);
  t.end();
});

t.test('a full pool starts over instead of growing', (t) => {
  const pool = new StringPool(3);
  for (const s of ['a', 'b', 'c']) pool.get(s);
  t.equal(pool.size, 3);
  t.equal(pool.get('d'), 'd', 'a value past the bound is still returned as it is');
  t.equal(pool.size, 1, 'the pool was emptied, then holds the new value');
  t.equal(pool.get('a'), 'a');
  t.equal(pool.size, 2);
  t.end();
});

t.test('values that are not plain ASCII come back unchanged', (t) => {
  const pool = new StringPool();
  for (const s of ['Ä', 'A\u0308', '"quoted"\n\\', '', '\u{1F600}'])
    t.equal(pool.get(s), s, JSON.stringify(s));
  t.end();
});
