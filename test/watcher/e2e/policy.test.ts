// End to end through createWatcher (the production wiring), the fake API server and the real
// docker-registry, on an injected clock: an AUTO_UPDATE outside its maintenance window is held,
// announced with its window start, and applied when the window opens; a too-young newer release
// is held by min-age and the next older one is chosen.
import { pino } from 'pino';
import t from 'tap';
import { createWatcher, loadWatcherConfig } from '../../../watcher/create.ts';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';
import { ManualClock } from '../../support/clock.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import { annotationsOf, deployment, fakeKube, imageOf, until } from './support.ts';

const API_TOKEN = 'policy-test-token-0123456789';
let registry: RunningRegistry;

t.before(async () => {
  registry = await startRegistry();
  await pushImage(registry.url, 'shop/app', ['1.0.0'], buildImage({ created: '2026-01-01T00:00:00Z' }));
  await pushImage(registry.url, 'shop/app', ['1.1.0'], buildImage({ created: '2026-05-01T00:00:00Z' }));
  // Four hours old when the test starts: held by min-age 3d until 2026-06-03T06:00Z.
  await pushImage(registry.url, 'shop/app', ['1.2.0'], buildImage({ created: '2026-05-31T06:00:00Z' }));
});
t.teardown(() => registry.stop());

const app = (tag: string) => `${registry.host}/shop/app:${tag}`;

t.test(
  'held outside the window, applied at its start; min-age falls back on the older release',
  async (t) => {
    // Sunday 31 May 2026, 12:00 in Paris. The window: 02:00-04:59 Paris time, Monday to Friday.
    const clock = new ManualClock(Date.parse('2026-05-31T10:00:00Z'));
    const kube = await fakeKube(t.teardown.bind(t));
    kube.seed(
      deployment('web', app('1.0.0'), {
        'image-watcher/mode': 'AUTO_UPDATE',
        'image-watcher/schedule': '* 2-4 * * 1-5',
        'image-watcher/timezone': 'Europe/Paris',
        'image-watcher/min-age': '3d',
      }),
    );
    const notices: UpdateNotice[] = [];
    const w = await createWatcher(loadWatcherConfig({ LEADER_ELECTION: 'false', API_TOKEN }), {
      kubeConfig: kube.kubeConfig(),
      logger: pino({ level: 'silent' }),
      leader: null,
      defaultMetrics: false,
      now: () => clock.date(),
      timers: clock,
      notify: (n) => {
        notices.push(...n);
        return Promise.resolve();
      },
      registry: { timeoutMs: 2000, maxAttempts: 1, cacheTtlMs: 0 },
      controller: {
        checkIntervalMs: 7 * 86_400_000,
        runOnBoot: false,
        rolloutTimeoutMs: 600_000,
        rolloutPollMs: 1000,
        debounceMs: 50,
      },
    });
    t.teardown(() => w.stop());
    await w.start({ listen: false });

    /** Lets manual time pass in small steps (notice batches, debounces) until `cond` holds. */
    const drive = (what: string, cond: () => boolean) =>
      until(what, () => {
        if (cond()) return true;
        clock.advance(250);
        return false;
      });
    const cycle = async () => {
      let done = false;
      void w.controller.runCycle().then(() => (done = true));
      await drive('the check cycle', () => done);
      await w.controller.idle(0);
    };
    const view = async () => {
      const res = await w.app.inject({
        method: 'GET',
        url: '/api/v1/workloads',
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      t.equal(res.statusCode, 200);
      return res.json<{ workloads: { name: string; containers: Record<string, unknown>[] }[] }>()
        .workloads[0]!.containers[0]!;
    };
    const metric = async () => (await w.metrics.render()).body;
    const WINDOW_START = '2026-06-01T00:00:00.000Z'; // Monday 02:00 in Paris (CEST)

    await cycle();
    t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), app('1.0.0'), 'outside the window: not applied');
    t.match(await view(), {
      currentVersion: '1.0.0',
      latestVersion: '1.1.0',
      updateAvailable: true,
      held: {
        reason: 'schedule',
        version: '1.1.0',
        until: WINDOW_START,
        message:
          /outside the maintenance window \(Every minute, between 02:00 and 04:59, Monday through Friday \(Europe\/Paris\)\)/,
      },
    });
    t.match(notices, [
      {
        event: 'available',
        newVersion: '1.1.0',
        held: { reason: 'schedule', until: WINDOW_START, message: /will be applied at the window start/ },
      },
    ]);
    t.equal(notices.length, 1, 'announced once');
    t.match(
      await metric(),
      /image_watcher_update_held\{namespace="shop",kind="Deployment",workload="web",container="app",reason="schedule"\} 1/,
    );

    // The requeue at the window start is what applies it (the interval is a week away).
    clock.advance(Date.parse(WINDOW_START) - clock.now());
    await drive(
      'the update at the window start',
      () => imageOf(kube.get('Deployment', 'shop', 'web')) === app('1.1.0'),
    );
    t.ok(clock.now() >= Date.parse(WINDOW_START), 'not before the window start');
    t.match(
      annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/last-updated'],
      /^2026-06-01T00:0\d:\d\dZ$/,
      'applied within seconds of the start',
    );
    t.equal(notices.length, 1, 'no second announcement while waiting');

    await drive(
      'the rollout',
      () => annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/rollout'] === undefined,
    );
    await cycle();
    t.match(await view(), {
      currentVersion: '1.1.0',
      latestVersion: '1.1.0',
      updateAvailable: false,
      held: { reason: 'min-age', version: '1.2.0', until: '2026-06-03T06:00:00.000Z', message: /min-age 3d/ },
    });
    const text = await metric();
    t.match(text, /image_watcher_update_held\{[^}]*reason="min-age"\} 1/);
    t.notMatch(text, /image_watcher_update_held\{[^}]*reason="schedule"\}/, 'the schedule hold is cleared');
  },
);
