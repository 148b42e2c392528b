// The policy keys through the real webhook over HTTPS: a bad value is refused at `kubectl apply`
// with key, value and what is allowed; good values pass.
import t from 'tap';
import { fixture, post, startTestWebhook } from './helpers.ts';

t.test('bad policy values are denied, every one named', async (t) => {
  const hook = await startTestWebhook(t);
  const review = fixture('deployment-create.json');
  Object.assign(review.request.object.metadata.annotations, {
    'image-watcher/schedule': '* 25 * * 1-5',
    'image-watcher/timezone': 'Europe/Atlantis',
    'image-watcher/min-age': 'three days',
    'image-watcher/constraint': '>=banana',
  });
  const res = await post(hook.url, hook.ca, review);
  t.equal(res.json.response.allowed, false);
  const message = res.json.response.status.message as string;
  t.match(message, /^4 invalid image-watcher annotations/);
  t.match(message, /image-watcher\/schedule: "\* 25 \* \* 1-5" has an invalid cron expression .*hour/);
  t.match(
    message,
    /image-watcher\/timezone: "Europe\/Atlantis" is not an IANA time zone name \(e\.g\. UTC, Europe\/Paris/,
  );
  t.match(message, /image-watcher\/min-age: "three days" is not a duration from 0s to 366d \(e\.g\. 72h, 7d/);
  t.match(message, /image-watcher\/constraint: ">=banana" is not an npm semver range \(e\.g\. ">=1\.20 <2"/);
});

t.test('good policy values are admitted', async (t) => {
  const hook = await startTestWebhook(t);
  const review = fixture('deployment-create.json');
  Object.assign(review.request.object.metadata.annotations, {
    'image-watcher/schedule': '* 2-4 * * 1-5; * 22-23 * * 6',
    'image-watcher/timezone': 'Europe/Paris',
    'image-watcher/min-age': '3d',
    'image-watcher/constraint': '>=1.20 <2',
  });
  const res = await post(hook.url, hook.ca, review);
  t.equal(res.json.response.allowed, true, JSON.stringify(res.json.response.status ?? {}));
});
