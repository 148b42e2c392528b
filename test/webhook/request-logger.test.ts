import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { buildWebhookApp } from '../../webhook/app.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { LazyChildLogger } from '../../webhook/request-logger.ts';
import { WATCHER, tokenSource } from './helpers.ts';

function capture(level: string): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return {
    logger: pino({ level }, stream),
    lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

t.test('a disabled level creates no child and writes nothing', (t) => {
  const { logger, lines } = capture('info');
  let children = 0;
  const child = logger.child.bind(logger);
  logger.child = ((...args: Parameters<typeof child>) => {
    children++;
    return child(...args);
  }) as typeof logger.child;
  const lazy = new LazyChildLogger(logger, { reqId: 'req-1' }, {});
  lazy.debug({ a: 1 }, 'hidden');
  lazy.trace('hidden too');
  t.equal(children, 0);
  t.same(lines(), []);
  t.equal(lazy.level, 'info');
  lazy.warn({ b: 2 }, 'shown');
  lazy.info('also shown');
  t.equal(children, 1, 'one child, made on the first enabled line');
  t.match(lines(), [
    { level: 40, reqId: 'req-1', b: 2, msg: 'shown' },
    { level: 30, reqId: 'req-1', msg: 'also shown' },
  ]);
  t.end();
});

t.test('a level set on the request logger applies to it alone', (t) => {
  const { logger, lines } = capture('info');
  const lazy = new LazyChildLogger(logger, { reqId: 'req-2' }, {});
  lazy.level = 'debug';
  lazy.debug('now shown');
  logger.debug('parent still at info');
  t.equal(lazy.level, 'debug');
  t.equal(logger.level, 'info');
  t.match(lines(), [{ level: 20, reqId: 'req-2', msg: 'now shown' }]);
  t.equal(lines().length, 1);
  const routeLevel = new LazyChildLogger(logger, { reqId: 'req-3' }, { level: 'trace' });
  t.equal(routeLevel.level, 'trace');
  routeLevel.trace('route level decides');
  t.match(lines()[1], { level: 10, reqId: 'req-3' });
  t.match(lazy.child({ extra: true }), { level: 'debug' });
  t.end();
});

t.test("the webhook's request lines still carry the request id", async (t) => {
  const { logger, lines } = capture('info');
  const app = buildWebhookApp({
    logger,
    metrics: new WebhookMetrics({ defaultMetrics: false }),
    review: { watcherUsernames: [WATCHER], randomToken: tokenSource() },
  });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: { kind: 'Pod' } });
  t.equal(res.statusCode, 400);
  const line = lines().find((l) => l.msg === 'not an AdmissionReview');
  t.match(line, { level: 40, reqId: /^req-/ });
});
