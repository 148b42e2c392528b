// The push trigger on a manual clock: bursts coalesce into one fresh tag list, a flood costs at
// most one list per repository per second, and nothing the registry does not confirm has an effect.
import { pino } from 'pino';
import t from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import type { WorkloadSnapshot } from '../../../watcher/kube/types.ts';
import type { PushEvent, Source } from '../../../watcher/push/sources.ts';
import type { EventResult } from '../../../watcher/push/trigger.ts';
import { PushTrigger } from '../../../watcher/push/trigger.ts';
import { ManualClock } from '../../support/clock.ts';

const REPO = 'registry.example/shop/web';
const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;

function ev(tag: string, extra: Partial<PushEvent> = {}): PushEvent {
  const ref = parseImageReference(`${REPO}:${tag}`);
  return { repository: REPO, ref, tag, digest: undefined, id: undefined, at: undefined, ...extra };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Lets every scheduled refresh run (retries wait a second each). */
async function drain(clock: ManualClock, trigger: PushTrigger): Promise<void> {
  for (let i = 0; i < 10; i++) {
    clock.advance(1000);
    await flush();
    await flush();
  }
  await trigger.idle();
}

function setup(opts: { tags?: string[]; digest?: string; fail?: boolean; manual?: boolean } = {}) {
  const clock = new ManualClock();
  const results: EventResult[] = [];
  const lists: { at: number; fresh: boolean | undefined }[] = [];
  const applied: string[][] = [];
  const pending: (() => void)[] = [];
  const watched = new Set([REPO]);
  const tags = opts.tags ?? ['1.0.0', '1.1.0'];
  const trigger = new PushTrigger({
    targets: {
      workloadsUsing: (r) => (watched.has(r) ? [{ name: 'web' } as WorkloadSnapshot] : []),
      applyTags: (_r, tags) => {
        applied.push([...tags]);
        return 1;
      },
    },
    registry: {
      listTags: (_ref, o) => {
        lists.push({ at: clock.now(), fresh: o?.fresh });
        if (opts.fail) return Promise.reject(new Error('registry down'));
        const answer = [...tags];
        if (!opts.manual) return Promise.resolve(answer);
        return new Promise((resolve) => pending.push(() => resolve(answer)));
      },
      getDigest: () => Promise.resolve(opts.digest ?? DIGEST_A),
    },
    credentials: () => Promise.resolve(undefined),
    timers: clock,
    observe: (_s: Source, r) => results.push(r),
    logger: pino({ level: 'silent' }),
  });
  return { clock, trigger, results, lists, applied, pending, watched, tags };
}

t.test('a burst of events for one repository costs one fresh tag list', async (t) => {
  const s = setup();
  for (let i = 0; i < 100; i++)
    s.trigger.receive('distribution', [ev('1.1.0', { id: String(i), at: 1000 + i })]);
  s.clock.advance(0);
  await s.trigger.idle();
  t.equal(s.lists.length, 1);
  t.equal(s.lists[0]!.fresh, true, 'the TTL cache is bypassed');
  t.equal(s.results.filter((r) => r === 'accepted').length, 100);
  t.same(s.applied, [['1.0.0', '1.1.0']], 'the workloads are queued once with the fresh list');
});

t.test('a flood over three seconds costs at most one tag list per second', async (t) => {
  const s = setup();
  const start = s.clock.now();
  for (let i = 0; i < 300; i++) {
    s.trigger.receive('harbor', [ev('1.1.0', { at: start + i * 10 })]);
    s.clock.advance(10);
    await flush();
  }
  s.clock.advance(2000);
  await s.trigger.idle();
  t.ok(s.lists.length >= 3 && s.lists.length <= 4, `${s.lists.length} lists for 300 events over 3 s`);
  for (let i = 1; i < s.lists.length; i++) {
    // Read after the 10 ms step in which the request started: one step of slack.
    t.ok(s.lists[i]!.at - s.lists[i - 1]!.at >= 990, 'a second apart at least');
  }
  t.equal(s.results.filter((r) => r === 'accepted').length, 300);
});

t.test('an event while a list is in flight waits for the next list, a second after the answer', async (t) => {
  const s = setup({ manual: true });
  s.trigger.receive('distribution', [ev('1.0.0', { digest: DIGEST_A })]);
  s.clock.advance(0);
  await flush();
  t.equal(s.lists.length, 1);
  s.trigger.receive('distribution', [ev('1.1.0', { digest: DIGEST_A })]);
  s.clock.advance(5000);
  await flush();
  t.equal(s.lists.length, 1, 'not while the first is running');
  s.pending.shift()!();
  await flush();
  await flush();
  s.clock.advance(999);
  await flush();
  t.equal(s.lists.length, 1, 'nor within a second of its answer');
  s.clock.advance(1);
  await flush();
  await flush();
  t.equal(s.lists.length, 2, 'the second starts a second after the first answered');
  s.pending.shift()!();
  await s.trigger.idle();
  t.same(s.results, ['accepted', 'accepted']);
});

t.test('replays, out-of-order, unknown and unconfirmed events change nothing', async (t) => {
  const cases: {
    name: string;
    events: PushEvent[][];
    tags?: string[];
    digest?: string;
    want: EventResult[];
    lists: number;
    applied: number;
  }[] = [
    {
      name: 'the same digest again is a duplicate',
      events: [[ev('1.1.0', { digest: DIGEST_A, id: 'x' })], [ev('1.1.0', { digest: DIGEST_A, id: 'y' })]],
      want: ['duplicate', 'accepted'],
      lists: 1,
      applied: 1,
    },
    {
      name: 'an older push of a tag after a newer one is stale',
      events: [[ev('1.1.0', { at: 2000 })], [ev('1.1.0', { at: 1000 })]],
      want: ['stale', 'accepted'],
      lists: 1,
      applied: 1,
    },
    {
      name: 'a repository nobody watches is unknown and asks nothing',
      events: [[{ ...ev('1.1.0'), repository: 'registry.example/elsewhere' }]],
      want: ['unknown'],
      lists: 0,
      applied: 0,
    },
    {
      name: 'a tag the registry does not list is unverified, after three lists a second apart',
      events: [[ev('9.9.9')]],
      want: ['unverified'],
      lists: 3,
      applied: 0,
    },
    {
      name: 'a digest the tag no longer points to is stale',
      events: [[ev('1.1.0', { digest: DIGEST_B })]],
      digest: DIGEST_A,
      want: ['stale'],
      lists: 1,
      applied: 0,
    },
  ];
  for (const c of cases) {
    const s = setup({ ...(c.tags ? { tags: c.tags } : {}), ...(c.digest ? { digest: c.digest } : {}) });
    for (const batch of c.events) s.trigger.receive('acr', batch);
    await drain(s.clock, s.trigger);
    t.same(s.results, c.want, c.name);
    t.equal(s.lists.length, c.lists, `${c.name}: tag lists`);
    t.equal(s.applied.length, c.applied, `${c.name}: reconciles`);
  }
});

t.test('a registry that cannot be asked: counted as failed, nothing applied', async (t) => {
  const s = setup({ fail: true });
  s.trigger.receive('quay', [ev('1.1.0')]);
  await drain(s.clock, s.trigger);
  t.same(s.results, ['failed']);
  t.same(s.applied, []);
});

t.test('a push event that comes before its tag is readable is confirmed by the next list', async (t) => {
  const s = setup({ tags: ['1.0.0'] });
  s.trigger.receive('distribution', [ev('1.1.0')]);
  s.clock.advance(0);
  await flush();
  await flush();
  t.equal(s.lists.length, 1);
  t.same(s.results, [], 'not counted yet');
  s.tags.push('1.1.0');
  await drain(s.clock, s.trigger);
  t.equal(s.lists.length, 2);
  t.same(s.results, ['accepted']);
  t.same(s.applied, [['1.0.0', '1.1.0']]);
});

t.test('stop drops scheduled refreshes and idle still resolves', async (t) => {
  const s = setup();
  s.trigger.receive('quay', [ev('1.1.0')]);
  s.trigger.stop();
  await s.trigger.idle();
  s.clock.advance(5000);
  t.equal(s.lists.length, 0);
});
