import t from 'tap';
import { ByteBudget, bodyReservation, nodeServerOptions } from '../../shared/inbound.ts';
import { WEBHOOK_LIMITS } from '../../webhook/app.ts';

t.test('ByteBudget reserves while bytes fit and gives them back', (t) => {
  const b = new ByteBudget(100);
  t.ok(b.tryReserve(60));
  t.notOk(b.tryReserve(41), 'over the total: refused, nothing reserved');
  t.equal(b.used, 60);
  t.ok(b.tryReserve(40), 'exactly the total fits');
  b.release(60);
  t.equal(b.used, 40);
  t.ok(b.tryReserve(0), 'nothing always fits');
  b.release(1000);
  t.equal(b.used, 0, 'never negative');
  t.throws(() => new ByteBudget(0), RangeError);
  t.end();
});

t.test('bodyReservation: Content-Length capped at the limit, chunked takes the limit', (t) => {
  const cases: [Record<string, string>, number][] = [
    [{}, 0],
    [{ 'content-length': '0' }, 0],
    [{ 'content-length': '234' }, 234],
    [{ 'content-length': '99999999' }, 1000],
    [{ 'transfer-encoding': 'chunked' }, 1000],
    [{ 'content-length': 'x', 'transfer-encoding': 'chunked' }, 1000],
  ];
  for (const [headers, want] of cases) t.equal(bodyReservation(headers, 1000), want, JSON.stringify(headers));
  t.end();
});

t.test('headersTimeout never exceeds requestTimeout (node refuses that)', (t) => {
  t.same(nodeServerOptions({ ...WEBHOOK_LIMITS, headersTimeoutMs: 20_000, requestTimeoutMs: 300 }), {
    headersTimeout: 300,
    requestTimeout: 300,
    connectionsCheckingInterval: WEBHOOK_LIMITS.checkIntervalMs,
  });
  t.end();
});
