// The per-review log line: routine stamping at DEBUG (skipped entirely when DEBUG is off, which is
// what the fast path in app.ts relies on), denials and overruled requests at INFO.
import t from 'tap';
import { captureLogger } from '../support/logs.ts';
import { buildWebhookApp } from '../../webhook/app.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { WATCHER, fixture, tokenSource } from './helpers.ts';

async function review(level: string, name: string) {
  const { logger, lines } = captureLogger({ level });
  const app = buildWebhookApp({
    logger,
    metrics: new WebhookMetrics({ defaultMetrics: false }),
    review: { watcherUsernames: [WATCHER], randomToken: tokenSource() },
  });
  const body = fixture(name);
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: body });
  await app.close();
  const reviewed = lines.filter((l) => l.msg === 'admission reviewed');
  return { res, reviewed, uid: (body.request as { uid: string }).uid };
}

t.test('routine stamping is logged at DEBUG when DEBUG is on', async (t) => {
  const { res, reviewed, uid } = await review('debug', 'deployment-create.json');
  t.equal(res.json().response.patchType, 'JSONPatch');
  t.equal(reviewed.length, 1);
  t.match(reviewed[0], { level: 20, uid, operation: 'CREATE', kind: 'Deployment', result: 'mutated' });
});

t.test('routine stamping writes no line at INFO', async (t) => {
  const { res, reviewed } = await review('info', 'deployment-create.json');
  t.equal(res.json().response.patchType, 'JSONPatch');
  t.same(reviewed, []);
});

t.test('a denial is logged at INFO', async (t) => {
  const { res, reviewed, uid } = await review('info', 'deployment-create-invalid.json');
  t.equal(res.json().response.allowed, false);
  t.equal(reviewed.length, 1);
  t.match(reviewed[0], { level: 30, uid, result: 'denied', reason: /invalid annotations/ });
});

t.test('restored managed annotations (warnings) are logged at INFO', async (t) => {
  const { res, reviewed } = await review('info', 'deployment-update-tampered.json');
  t.ok(res.json().response.warnings.length > 0);
  t.equal(reviewed.length, 1);
  t.match(reviewed[0], { level: 30, result: 'mutated' });
  t.ok((reviewed[0]!.warnings as number) > 0);
});
