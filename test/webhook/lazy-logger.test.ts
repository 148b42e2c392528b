// The webhook's lazy logger: fastify's per-request child is made only when the request writes a
// line, and a written line is the same as pino's own child would write.
import t from 'tap';
import { captureLogger } from '../support/logs.ts';
import { buildWebhookApp } from '../../webhook/app.ts';
import { LazyLogger } from '../../webhook/lazy-logger.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { WATCHER, fixture, tokenSource } from './helpers.ts';

t.test('a child is made only when it writes, and writes with every binding', (t) => {
  const { logger, lines } = captureLogger({ level: 'info', base: { component: 'webhook' } });
  const root = LazyLogger.over(logger);
  const request = root.child({}, {}).child({ reqId: 'req-1' });
  t.equal(request.level, 'info', 'the level is read without making the child');
  request.debug({ uid: 'u1' }, 'below the level');
  t.equal(request.materialised, true, 'a call at any level goes to the real child');
  t.same(lines, [], 'but writes nothing below the level');

  const quiet = root.child({ reqId: 'req-2' });
  t.equal(quiet.level, 'info');
  t.equal(quiet.materialised, false);

  const other = root.child({ reqId: 'req-3' });
  other.info({ uid: 'u3', user: 'alice' }, 'admission reviewed');
  other.warn('plain message %s', 'formatted');
  t.match(lines, [
    { level: 30, component: 'webhook', reqId: 'req-3', uid: 'u3', user: 'alice', msg: 'admission reviewed' },
    { level: 40, reqId: 'req-3', msg: 'plain message formatted' },
  ]);
  t.end();
});

t.test('the level option of a child and a level change', (t) => {
  const { logger, lines } = captureLogger({ level: 'info', base: { component: 'webhook' } });
  const root = LazyLogger.over(logger);
  const verbose = root.child({ reqId: 'req-4' }, { level: 'debug' });
  t.equal(verbose.level, 'debug', 'the child option wins before the child exists');
  verbose.debug('seen');
  const later = root.child({ reqId: 'req-5' });
  later.level = 'trace';
  t.equal(later.materialised, true);
  t.equal(later.level, 'trace');
  later.trace('traced');
  t.equal(logger.level, 'info', 'the parent keeps its level');
  t.match(lines, [
    { level: 20, reqId: 'req-4', msg: 'seen' },
    { level: 10, reqId: 'req-5', msg: 'traced' },
  ]);
  t.end();
});

t.test(
  'through the app: a denial is logged with reqId, uid, user and reason; stamping writes nothing',
  async (t) => {
    const { logger, lines } = captureLogger({ level: 'info', base: { component: 'webhook' } });
    const app = buildWebhookApp({
      logger,
      metrics: new WebhookMetrics({ defaultMetrics: false }),
      review: { watcherUsernames: [WATCHER], randomToken: tokenSource() },
    });
    t.teardown(() => app.close());
    const stamped = await app.inject({
      method: 'POST',
      url: '/mutate',
      payload: fixture('deployment-create.json'),
    });
    t.equal(stamped.json().response.patchType, 'JSONPatch');
    t.same(lines, [], 'routine stamping writes no line at INFO');

    const body = fixture('deployment-create-invalid.json');
    const denied = await app.inject({ method: 'POST', url: '/mutate', payload: body });
    t.equal(denied.json().response.allowed, false);
    const reviewed = lines.filter((l) => l.msg === 'admission reviewed');
    t.equal(reviewed.length, 1);
    t.match(reviewed[0], {
      level: 30,
      reqId: /^req-/,
      uid: (body.request as { uid: string }).uid,
      user: 'kubernetes-admin',
      result: 'denied',
      reason: /invalid annotations/,
    });

    const garbage = await app.inject({ method: 'POST', url: '/mutate', payload: '{not json' });
    t.equal(garbage.statusCode, 400);
    t.match(lines.at(-1), { level: 40, reqId: /^req-/, msg: 'body is not JSON' });
  },
);
