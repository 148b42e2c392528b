import t from 'tap';
import { InvalidAdmissionReviewError, parseAdmissionReview } from '../../../webhook/admission/parse.ts';
import { buildWebhookApp } from '../../../webhook/app.ts';
import { WebhookMetrics } from '../../../webhook/metrics.ts';
import { WATCHER, quietLogger, tokenSource } from '../helpers.ts';

// JSON.parse gives plain objects whose own `toString`/`valueOf` may be anything: String(value)
// on such an object throws a TypeError instead of describing it.
const HOSTILE = [
  '{"apiVersion":{"toString":1},"kind":"AdmissionReview"}',
  '{"apiVersion":"admission.k8s.io/v1","kind":{"toString":{},"valueOf":{}}}',
];

t.test('apiVersion or kind objects with odd toString are rejected as not an AdmissionReview', (t) => {
  for (const body of HOSTILE) {
    t.throws(() => parseAdmissionReview(JSON.parse(body)), InvalidAdmissionReviewError, body);
  }
  t.end();
});

t.test('they get HTTP 400, not 500', async (t) => {
  const app = buildWebhookApp({
    logger: quietLogger(),
    metrics: new WebhookMetrics({ defaultMetrics: false }),
    review: { watcherUsernames: [WATCHER], randomToken: tokenSource() },
  });
  t.teardown(() => app.close());
  for (const payload of HOSTILE) {
    const res = await app.inject({
      method: 'POST',
      url: '/mutate',
      payload,
      headers: { 'content-type': 'application/json' },
    });
    t.equal(res.statusCode, 400, payload);
    t.match(res.json().message, /admissionReviewVersions/);
  }
});

t.test('the message names a wrong apiVersion by its value or its type', (t) => {
  const cases: [unknown, string][] = [
    ['v1', '"v1"'],
    [1, '1'],
    [null, 'null'],
    [true, 'true'],
    [undefined, 'nothing'],
    [[1], 'an array'],
    [{ a: 1 }, 'an object'],
    ['x'.repeat(500), `"${'x'.repeat(77)}…" (500 characters)`],
  ];
  for (const [apiVersion, shown] of cases) {
    const err = t.throws(() => parseAdmissionReview({ apiVersion, kind: 'AdmissionReview' })) as Error;
    t.match(err.message, `got ${shown}`, String(shown));
  }
  t.end();
});
