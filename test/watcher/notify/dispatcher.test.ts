import t, { type Test } from 'tap';
import { readManagedState } from '../../../shared/annotations.ts';
import { WatcherMetrics } from '../../../watcher/metrics.ts';
import { createDiscordNotifier } from '../../../watcher/notify/discord.ts';
import {
  backoffDelay,
  dedupeNotices,
  NotificationDispatcher,
  shouldAnnounce,
} from '../../../watcher/notify/dispatcher.ts';
import { createSlackNotifier } from '../../../watcher/notify/slack.ts';
import { createTeamsNotifier } from '../../../watcher/notify/teams.ts';
import type { NotificationObserver, Notifier, UpdateNotice } from '../../../watcher/notify/types.ts';
import { createWebhookNotifier } from '../../../watcher/notify/webhook.ts';
import { ManualClock } from '../../support/clock.ts';
import { until } from '../../support/until.ts';
import { availableNotice, failedNotice, manyNotices, startCapture, type Reply } from './fixtures.ts';

function recorder() {
  const events: { channel: string; result: 'success' | 'failed' }[] = [];
  const observer = { observeNotification: (e) => events.push(e) } satisfies NotificationObserver;
  return { events, observer };
}

function sleeps() {
  const waits: number[] = [];
  return { waits, sleep: (ms: number) => (waits.push(ms), Promise.resolve()) };
}

async function server(t: Test, replies: Reply[]) {
  const s = await startCapture(replies);
  t.teardown(() => s.close());
  return s;
}

t.test('a failing channel is retried while the others succeed', async (t) => {
  const flaky = await server(t, [{ status: 500 }, { status: 500 }, { status: 200 }]);
  const broken = await server(t, [{ status: 400, body: 'invalid_token' }]);
  const good = await server(t, [{ status: 204 }]);
  const { events, observer } = recorder();
  const { waits, sleep } = sleeps();
  const dispatcher = new NotificationDispatcher({
    notifiers: [
      createSlackNotifier({ channel: 'slack', url: `${flaky.url}/s` }),
      createTeamsNotifier({ channel: 'teams', url: `${broken.url}/t` }),
      createDiscordNotifier({ channel: 'discord', url: `${good.url}/d` }),
    ],
    observer,
    sleep,
    random: () => 0.5,
    retries: 3,
    baseDelayMs: 1000,
  });

  const report = await dispatcher.dispatch([availableNotice()]);

  t.equal(flaky.requests.length, 3, '500, 500, 200: success on the third attempt');
  t.equal(broken.requests.length, 1, 'a 400 is not retried');
  t.equal(good.requests.length, 1);
  t.same(waits, [750, 1500], 'exponential backoff with jitter between attempts');
  t.same(
    report.map((r) => [r.channel, r.delivered, r.failed, r.attempts]),
    [
      ['slack', 1, 0, 3],
      ['teams', 0, 1, 1],
      ['discord', 1, 0, 1],
    ],
  );
  t.match(report[1]!.errors[0], /HTTP 400: invalid_token/);
  t.same(
    events.sort((a, b) => a.channel.localeCompare(b.channel)),
    [
      { channel: 'discord', result: 'success' },
      { channel: 'slack', result: 'success' },
      { channel: 'teams', result: 'failed' },
    ],
  );
});

t.test('a channel that keeps failing gives up after the retries', async (t) => {
  const down = await server(t, [{ status: 503 }]);
  const { events, observer } = recorder();
  const { waits, sleep } = sleeps();
  const dispatcher = new NotificationDispatcher({
    notifiers: [createSlackNotifier({ channel: 'slack', url: down.url, retries: 2 })],
    observer,
    sleep,
    random: () => 1,
    retries: 5,
    baseDelayMs: 1000,
    maxDelayMs: 1500,
  });
  await dispatcher.dispatch([availableNotice()]);
  t.equal(down.requests.length, 3, 'the channel setting (2 retries) wins over the default');
  t.same(waits, [1000, 1500], 'delays are capped');
  t.same(events, [{ channel: 'slack', result: 'failed' }]);
});

t.test('429 Retry-After is honoured, and an excessive one is not waited for', async (t) => {
  const limited = await server(t, [{ status: 429, headers: { 'retry-after': '3' } }, { status: 200 }]);
  const { waits, sleep } = sleeps();
  const dispatcher = new NotificationDispatcher({
    notifiers: [createSlackNotifier({ channel: 'slack', url: limited.url })],
    sleep,
  });
  const [report] = await dispatcher.dispatch([availableNotice()]);
  t.same(waits, [3000]);
  t.equal(report?.delivered, 1);

  const swamped = await server(t, [{ status: 429, headers: { 'retry-after': '3600' } }]);
  const long = sleeps();
  const [r2] = await new NotificationDispatcher({
    notifiers: [createSlackNotifier({ channel: 'slack', url: swamped.url })],
    sleep: long.sleep,
    maxRetryAfterMs: 60_000,
  }).dispatch([availableNotice()]);
  t.same(long.waits, []);
  t.equal(swamped.requests.length, 1);
  t.equal(r2?.failed, 1);
});

t.test('a hanging channel times out without holding the others', async (t) => {
  const hanging = await server(t, [{ hang: true }]);
  const good = await server(t, [{ status: 200 }]);
  const { events, observer } = recorder();
  const clock = new ManualClock();
  const dispatching = new NotificationDispatcher({
    notifiers: [
      createSlackNotifier({ channel: 'slack', url: hanging.url, timeoutMs: 10_000 }),
      createWebhookNotifier({ channel: 'webhook', url: good.url, secret: 'x' }),
    ],
    observer,
    sleep: () => Promise.resolve(),
    timers: clock,
    retries: 1,
  }).dispatch([availableNotice()]);
  // The hanging server gives no event to await: its request log is looked at.
  await until(
    'the first attempt and the other channel',
    () => hanging.requests.length === 1 && good.requests.length === 1,
  );
  t.same(events, [{ channel: 'webhook', result: 'success' }], 'the other channel is not held');
  clock.advance(10_000);
  await until('the retry after the timeout', () => hanging.requests.length === 2);
  clock.advance(10_000);
  const report = await dispatching;
  t.equal(hanging.requests.length, 2, 'one retry after the timeout');
  t.match(report[0]!.errors[0], /did not answer within 10000 ms/);
  t.equal(report[1]!.delivered, 1);
  t.same(events.map((e) => `${e.channel}:${e.result}`).sort(), ['slack:failed', 'webhook:success']);
});

t.test('a channel that ignores the abort signal is still abandoned at the timeout', async (t) => {
  const clock = new ManualClock();
  let sent!: () => void;
  const sending = new Promise<void>((resolve) => (sent = resolve));
  const stuck: Notifier = {
    channel: 'stuck',
    send: () => {
      sent();
      return new Promise<void>(() => {});
    },
  };
  const dispatching = new NotificationDispatcher({
    notifiers: [stuck],
    timeoutMs: 50,
    retries: 0,
    timers: clock,
  }).dispatch([availableNotice()]);
  await sending;
  t.equal(clock.pending, 1, 'the attempt waits on its timeout');
  clock.advance(50);
  const [report] = await dispatching;
  t.equal(report?.failed, 1);
  t.match(report?.errors[0], /did not answer within 50 ms/);
  t.equal(clock.pending, 0, 'the timer is cleared');
});

t.test('a channel that throws a plain error is isolated and retried', async (t) => {
  let calls = 0;
  const thrower: Notifier = {
    channel: 'buggy',
    send: () => {
      calls++;
      return Promise.reject(new TypeError('boom'));
    },
  };
  const ok: UpdateNotice[][] = [];
  const fine: Notifier = { channel: 'fine', send: (b) => (ok.push([...b]), Promise.resolve()) };
  const report = await new NotificationDispatcher({
    notifiers: [thrower, fine],
    retries: 1,
    sleep: () => Promise.resolve(),
  }).dispatch([availableNotice()]);
  t.equal(calls, 2);
  t.equal(ok.length, 1);
  t.match(report[0]!.errors[0], /buggy failed: boom/);
});

t.test('more notices than the threshold become one digest per channel', async (t) => {
  const slack = await server(t, [{ status: 200 }]);
  const hook = await server(t, [{ status: 200 }]);
  const { events, observer } = recorder();
  const dispatcher = new NotificationDispatcher({
    notifiers: [
      createSlackNotifier({ channel: 'slack', url: slack.url }),
      createWebhookNotifier({ channel: 'webhook', url: hook.url, secret: 's' }),
    ],
    observer,
    digestThreshold: 5,
  });

  await dispatcher.dispatch(manyNotices(5));
  t.equal(slack.requests.length, 5, 'at the threshold: one message each');

  await dispatcher.dispatch(manyNotices(6));
  t.equal(slack.requests.length, 6, 'above it: one digest');
  t.equal(hook.requests.length, 6);
  t.match(JSON.parse(slack.requests[5]!.body).text, /^image-watcher: 6 notices/);
  t.equal(JSON.parse(hook.requests[5]!.body).event, 'digest');
  t.equal(events.length, 12, 'one count per message');
});

t.test('notices are deduplicated within a dispatch and filtered by channel events', async (t) => {
  const seen: string[] = [];
  const failuresOnly: Notifier = {
    channel: 'pager',
    events: ['failed', 'rolled_back'],
    send: (b) => (seen.push(...b.map((n) => n.event)), Promise.resolve()),
  };
  const n = availableNotice();
  t.equal(dedupeNotices([n, { ...n }, failedNotice()]).length, 2);
  const report = await new NotificationDispatcher({ notifiers: [failuresOnly] }).dispatch([
    n,
    n,
    failedNotice(),
  ]);
  t.same(seen, ['failed']);
  t.same(report[0], { channel: 'pager', delivered: 1, failed: 0, attempts: 1, errors: [] });
});

t.test('dispatch with nothing to say sends nothing', async (t) => {
  let sent = 0;
  const n: Notifier = { channel: 'x', send: () => (sent++, Promise.resolve()) };
  t.same(await new NotificationDispatcher({ notifiers: [n] }).dispatch([]), []);
  t.same(await new NotificationDispatcher({ notifiers: [] }).dispatch([availableNotice()]), []);
  t.equal(sent, 0);
});

t.test('deliveries are counted in image_watcher_notifications_total', async (t) => {
  const good = await server(t, [{ status: 200 }]);
  const bad = await server(t, [{ status: 403 }]);
  const metrics = new WatcherMetrics({ defaultMetrics: false });
  await new NotificationDispatcher({
    notifiers: [
      createSlackNotifier({ channel: 'slack', url: good.url }),
      createDiscordNotifier({ channel: 'discord', url: bad.url }),
    ],
    observer: metrics,
  }).dispatch([availableNotice(), failedNotice()]);
  const text = await metrics.registry.metrics();
  t.match(text, /image_watcher_notifications_total\{channel="slack",result="success"\} 2/);
  t.match(text, /image_watcher_notifications_total\{channel="discord",result="failed"\} 2/);
});

t.test('the same version is never announced twice, across a restart', async (t) => {
  const cases: {
    name: string;
    annotations: Record<string, string>;
    container: string;
    version: string;
    want: boolean;
  }[] = [
    { name: 'nothing announced yet', annotations: {}, container: 'app', version: '1.2.0', want: true },
    {
      name: 'the same version was announced (one container)',
      annotations: { 'image-watcher/last-notified-version': '1.2.0' },
      container: 'app',
      version: '1.2.0',
      want: false,
    },
    {
      name: 'a newer version than the announced one',
      annotations: { 'image-watcher/last-notified-version': '1.2.0' },
      container: 'app',
      version: '1.3.0',
      want: true,
    },
    {
      name: 'the same version for this container of several',
      annotations: { 'image-watcher/last-notified-version': 'app=1.2.0,sidecar=0.9.1' },
      container: 'sidecar',
      version: '0.9.1',
      want: false,
    },
    {
      name: 'another container of several announced this version',
      annotations: { 'image-watcher/last-notified-version': 'app=1.2.0' },
      container: 'sidecar',
      version: '1.2.0',
      want: true,
    },
  ];
  for (const c of cases) {
    t.equal(shouldAnnounce(readManagedState(c.annotations), c.container, c.version), c.want, c.name);
  }

  // The watcher stamps the annotation, then dispatches; a restarted process reads the workload
  // again and asks shouldAnnounce before dispatching.
  const hook = await server(t, [{ status: 200 }]);
  const annotations: Record<string, string> = {};
  const cycle = async () => {
    const dispatcher = new NotificationDispatcher({
      notifiers: [createWebhookNotifier({ channel: 'webhook', url: hook.url, secret: 's' })],
    });
    const notice = availableNotice();
    if (!shouldAnnounce(readManagedState(annotations), notice.container, notice.newVersion)) return;
    annotations['image-watcher/last-notified-version'] = notice.newVersion;
    await dispatcher.dispatch([notice]);
  };
  await cycle();
  await cycle(); // a new process: fresh dispatcher, same workload annotations
  t.equal(hook.requests.length, 1);
});

t.test('backoff doubles, is capped and jittered', (t) => {
  const table = [
    { name: 'first retry, no jitter', input: [1, 1000, 30_000, 0], want: 500 },
    { name: 'first retry, full jitter', input: [1, 1000, 30_000, 1], want: 1000 },
    { name: 'third retry', input: [3, 1000, 30_000, 1], want: 4000 },
    { name: 'capped', input: [10, 1000, 30_000, 1], want: 30_000 },
  ] as const;
  for (const c of table) {
    const [attempt, base, max, r] = c.input;
    t.equal(
      backoffDelay(attempt, base, max, () => r),
      c.want,
      c.name,
    );
  }
  t.end();
});
