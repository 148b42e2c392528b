// WebhookMetrics counts reviews into plain fields and hands them to prom-client when it collects:
// every scrape sees every review answered before it, exactly.
import t from 'tap';
import { WebhookMetrics } from '../../webhook/metrics.ts';

const line = (text: string, name: string): string | undefined =>
  text.split('\n').find((l) => l.startsWith(name));

t.test('a scrape sees every observation, across the pending-duration flushes', async (t) => {
  const metrics = new WebhookMetrics({ defaultMetrics: false });
  let sum = 0;
  for (let i = 0; i < 2500; i++) {
    const seconds = (i % 7) * 0.001;
    sum += seconds;
    metrics.observeAdmission({
      operation: i % 3 === 0 ? 'UPDATE' : 'CREATE',
      kind: 'Deployment',
      result: i % 5 === 0 ? 'denied' : 'mutated',
      seconds,
    });
  }
  const text = await metrics.registry.metrics();
  const count = (labels: string): number =>
    Number(line(text, `image_watcher_admission_requests_total{${labels}}`)?.split(' ').at(-1));
  const expected = { uc: 0, ud: 0, cc: 0, cd: 0 };
  for (let i = 0; i < 2500; i++) {
    if (i % 3 === 0) {
      if (i % 5 === 0) expected.ud++;
      else expected.uc++;
    } else if (i % 5 === 0) expected.cd++;
    else expected.cc++;
  }
  t.equal(count('operation="UPDATE",kind="Deployment",result="mutated"'), expected.uc);
  t.equal(count('operation="UPDATE",kind="Deployment",result="denied"'), expected.ud);
  t.equal(count('operation="CREATE",kind="Deployment",result="mutated"'), expected.cc);
  t.equal(count('operation="CREATE",kind="Deployment",result="denied"'), expected.cd);
  t.equal(
    line(text, 'image_watcher_admission_duration_seconds_count'),
    'image_watcher_admission_duration_seconds_count 2500',
  );
  const scrapedSum = Number(line(text, 'image_watcher_admission_duration_seconds_sum')!.split(' ')[1]);
  t.ok(Math.abs(scrapedSum - sum) < 1e-9, `sum ${scrapedSum} = ${sum}`);
  // Bucket le=0.001 holds i % 7 of 0 and 1: (2500 / 7 rounded per residue).
  let upTo1ms = 0;
  for (let i = 0; i < 2500; i++) if ((i % 7) * 0.001 <= 0.001) upTo1ms++;
  t.equal(
    line(text, 'image_watcher_admission_duration_seconds_bucket{le="0.001"}'),
    `image_watcher_admission_duration_seconds_bucket{le="0.001"} ${upTo1ms}`,
  );

  // Later reviews add to what the last scrape handed over; nothing is counted twice.
  metrics.observeAdmission({ operation: 'CREATE', kind: 'other', result: 'allowed', seconds: 0.0002 });
  const again = await metrics.registry.metrics();
  t.equal(
    line(again, 'image_watcher_admission_duration_seconds_count'),
    'image_watcher_admission_duration_seconds_count 2501',
  );
  t.equal(
    line(again, 'image_watcher_admission_requests_total{operation="CREATE",kind="other",result="allowed"}'),
    'image_watcher_admission_requests_total{operation="CREATE",kind="other",result="allowed"} 1',
  );
  t.equal(count('operation="CREATE",kind="Deployment",result="mutated"'), expected.cc);
});

t.test('a duration that is not a finite number fails the call, not a later scrape', async (t) => {
  const metrics = new WebhookMetrics({ defaultMetrics: false });
  t.throws(() =>
    metrics.observeAdmission({ operation: 'CREATE', kind: 'Deployment', result: 'mutated', seconds: NaN }),
  );
  const text = await metrics.registry.metrics();
  t.notOk(line(text, 'image_watcher_admission_requests_total{'), 'nothing was counted');
  t.equal(
    line(text, 'image_watcher_admission_duration_seconds_count'),
    'image_watcher_admission_duration_seconds_count 0',
  );
});
