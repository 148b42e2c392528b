import t from 'tap';
import { backoffDelay } from '../../shared/backoff.ts';

t.test('backoffDelay: capped exponential, jitter shortens by up to its fraction', (t) => {
  const rule = { initialMs: 1000, maxMs: 8000 };
  t.same(
    [1, 2, 3, 4, 5, 100].map((n) => backoffDelay(n, rule)),
    [1000, 2000, 4000, 8000, 8000, 8000],
  );
  t.equal(backoffDelay(2, { ...rule, factor: 3 }), 3000);
  t.equal(
    backoffDelay(1, { ...rule, jitter: 0.5 }, () => 1),
    500,
  );
  t.equal(
    backoffDelay(1, { ...rule, jitter: 0.5 }, () => 0),
    1000,
  );
  t.equal(
    backoffDelay(1, { ...rule, jitter: 7 }, () => 1),
    0,
    'jitter is at most 1',
  );
  t.end();
});
