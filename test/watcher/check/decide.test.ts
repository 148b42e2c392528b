import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import t from 'tap';
import type { ManagedState } from '../../../shared/annotations.ts';
import { parseImageReference } from '../../../shared/image-ref.ts';
import { parsePendingRollout } from '../../../shared/pending-rollout.ts';
import type { Candidate } from '../../../watcher/check/decide.ts';
import {
  annotationPath,
  clearRolloutOps,
  decideAction,
  detectExternalReverts,
  digestCandidate,
  encodeFor,
  noticeClaimWaitMs,
  notifyPatch,
  rollbackPatch,
  revertPatch,
  runningVersion,
  tagCandidate,
  updatePatch,
  versionFor,
  watchedContainers,
} from '../../../watcher/check/decide.ts';
import type { ContainerInfo, WorkloadSnapshot } from '../../../watcher/kube/types.ts';
import { snapshotOf } from '../../support/snapshot.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function container(name: string, image: string, index = 0): ContainerInfo {
  return { name, image, init: false, imagePath: `/spec/template/spec/containers/${index}/image` };
}

function snapshot(
  annotations: Record<string, string> = {},
  containers = [container('app', 'nginx:1.25.0')],
): WorkloadSnapshot {
  return snapshotOf({ uid: 'u1', resourceVersion: '42', annotations, containers });
}

const nginxTags = [
  '1.24.0',
  '1.25.0',
  '1.25.3',
  '1.26.1',
  '2.0.0',
  '2.1.0-rc.1',
  'latest',
  'stable',
  '1.27.0-alpine',
  'garbage..',
];

t.test('tagCandidate picks the newest allowed tag for each strategy', (t) => {
  const cases: {
    name: string;
    image: string;
    strategy: 'ALL' | 'MAJOR' | 'MINOR' | 'PATCH';
    skip?: string[];
    tags?: string[];
    include?: RegExp;
    exclude?: RegExp;
    want: string | undefined;
  }[] = [
    {
      name: 'ALL takes the newest stable version of any major',
      image: 'nginx:1.25.0',
      strategy: 'ALL',
      want: '2.0.0',
    },
    {
      name: 'MAJOR behaves like ALL for version tags',
      image: 'nginx:1.25.0',
      strategy: 'MAJOR',
      want: '2.0.0',
    },
    { name: 'MINOR stays on the same major', image: 'nginx:1.25.0', strategy: 'MINOR', want: '1.26.1' },
    { name: 'PATCH stays on the same minor', image: 'nginx:1.25.0', strategy: 'PATCH', want: '1.25.3' },
    {
      name: 'a version already newest yields nothing',
      image: 'nginx:2.0.0',
      strategy: 'ALL',
      want: undefined,
    },
    {
      name: 'a last-failed version holds back everything up to it: wait for a newer release',
      image: 'nginx:1.25.0',
      strategy: 'MINOR',
      skip: ['1.26.1'],
      want: undefined,
    },
    {
      name: 'two failures in turn never offer the older failed version again (no alternating loop)',
      image: 'nginx:1.25.0',
      strategy: 'MINOR',
      tags: ['1.25.0', '1.26.0', '1.26.1'],
      skip: ['1.26.1'],
      want: undefined,
    },
    {
      name: 'a release newer than the failed one is offered',
      image: 'nginx:1.25.0',
      strategy: 'MINOR',
      tags: ['1.25.0', '1.26.0', '1.26.1', '1.27.0'],
      skip: ['1.26.0'],
      want: '1.27.0',
    },
    {
      name: 'a failed version of another shape does not hold back this one',
      image: 'nginx:1.25.0',
      strategy: 'MINOR',
      skip: ['1.27.0-alpine'],
      want: '1.26.1',
    },
    {
      name: 'a failed version older than what runs changes nothing',
      image: 'nginx:1.25.0',
      strategy: 'MINOR',
      skip: ['1.24.0'],
      want: '1.26.1',
    },
    {
      name: 'skipping the only newer version yields nothing',
      image: 'nginx:1.25.0',
      strategy: 'PATCH',
      skip: ['1.25.3'],
      want: undefined,
    },
    {
      name: 'a running version newer than every tag is never downgraded',
      image: 'nginx:3.0.0',
      strategy: 'ALL',
      want: undefined,
    },
    {
      name: 'include limits candidates',
      image: 'nginx:1.25.0',
      strategy: 'ALL',
      include: /^1\./,
      want: '1.26.1',
    },
    {
      name: 'exclude removes candidates',
      image: 'nginx:1.25.0',
      strategy: 'ALL',
      exclude: /^2\./,
      want: '1.26.1',
    },
    {
      name: 'a non-version tag has no tag candidate',
      image: 'nginx:latest',
      strategy: 'ALL',
      want: undefined,
    },
    {
      name: 'a digest-only reference has no tag candidate',
      image: `nginx@${D1}`,
      strategy: 'ALL',
      want: undefined,
    },
    {
      name: 'an empty tag list yields nothing',
      image: 'nginx:1.25.0',
      strategy: 'ALL',
      tags: [],
      want: undefined,
    },
    {
      name: 'a prerelease is not offered to a stable tag',
      image: 'nginx:2.0.0',
      strategy: 'ALL',
      tags: ['2.1.0-rc.1'],
      want: undefined,
    },
  ];
  for (const c of cases) {
    const got = tagCandidate({
      container: container('app', c.image),
      ref: parseImageReference(c.image),
      tags: c.tags ?? nginxTags,
      settings: { strategy: c.strategy, include: c.include, exclude: c.exclude },
      skip: new Set(c.skip ?? []),
    });
    t.equal(got?.newVersion, c.want, c.name);
  }
  t.end();
});

t.test('tagCandidate keeps the name as written and reports the change', (t) => {
  const got = tagCandidate({
    container: container('app', 'localhost:5000/team/api:v1.2.3'),
    ref: parseImageReference('localhost:5000/team/api:v1.2.3'),
    tags: ['v1.2.3', 'v1.3.0', '1.4.0'],
    settings: { strategy: 'ALL', include: undefined, exclude: undefined },
    skip: new Set(),
  });
  t.same(got, {
    container: 'app',
    imagePath: '/spec/template/spec/containers/0/image',
    image: 'localhost:5000/team/api:v1.2.3',
    currentVersion: 'v1.2.3',
    newVersion: 'v1.3.0',
    newImage: 'localhost:5000/team/api:v1.3.0',
    change: 'minor',
  });
  t.end();
});

t.test('digestCandidate compares the registry digest with the known running digest', (t) => {
  const cases: {
    name: string;
    image: string;
    registryDigest: string;
    known: string | undefined;
    skip?: string[];
    want: string | undefined;
  }[] = [
    {
      name: 'a first sighting (no known digest) is only a baseline',
      image: 'nginx:latest',
      registryDigest: D1,
      known: undefined,
      want: undefined,
    },
    {
      name: 'the same digest is no update',
      image: 'nginx:latest',
      registryDigest: D1,
      known: D1,
      want: undefined,
    },
    {
      name: 'a new digest behind the tag is an update pinned to it',
      image: 'nginx:latest',
      registryDigest: D2,
      known: D1,
      want: `nginx:latest@${D2}`,
    },
    {
      name: 'a version tag is left to tagCandidate',
      image: 'nginx:1.25.0',
      registryDigest: D2,
      known: D1,
      want: undefined,
    },
    {
      name: 'a failed digest is never proposed again',
      image: 'nginx:latest',
      registryDigest: D2,
      known: D1,
      skip: [`latest@${D2}`],
      want: undefined,
    },
  ];
  for (const c of cases) {
    const got = digestCandidate({
      container: container('app', c.image),
      ref: parseImageReference(c.image),
      registryDigest: c.registryDigest,
      knownDigest: c.known,
      skip: new Set(c.skip ?? []),
    });
    t.equal(got?.newImage, c.want, c.name);
    if (got) t.equal(got.change, 'digest', `${c.name}: change is digest`);
  }
  t.end();
});

t.test('version annotations are read and written per container', (t) => {
  t.equal(versionFor('1.2.3', 'app', 1), '1.2.3', 'a bare tag belongs to the only watched container');
  t.equal(versionFor('1.2.3', 'app', 2), undefined, 'a bare tag is ambiguous with two watched containers');
  t.equal(versionFor('app=1.2.3,side=0.1', 'side', 2), '0.1', 'a named entry is found');
  t.equal(versionFor(undefined, 'app', 1), undefined, 'no annotation, no version');
  t.equal(encodeFor(new Map([['app', '1.2.3']]), 1), '1.2.3', 'one watched container is written bare');
  t.equal(
    encodeFor(new Map([['side', '0.1']]), 2),
    'side=0.1',
    'one entry of several watched containers keeps its name',
  );
  t.equal(
    encodeFor(
      new Map([
        ['side', '0.1'],
        ['app', '1.2'],
      ]),
      2,
    ),
    'app=1.2,side=0.1',
    'entries are sorted',
  );
  t.equal(
    runningVersion(parseImageReference(`nginx:latest@${D1}`)),
    `latest@${D1}`,
    'a pinned tag records its digest',
  );
  t.end();
});

t.test('watchedContainers honours the containers annotation', (t) => {
  const all = [container('app', 'a:1'), { ...container('init', 'b:1', 0), init: true }];
  t.same(
    watchedContainers(all, { containers: undefined }).map((c) => c.name),
    ['app', 'init'],
    'all by default, init included',
  );
  t.same(
    watchedContainers(all, { containers: ['init'] }).map((c) => c.name),
    ['init'],
    'only the listed names',
  );
  t.same(watchedContainers(all, { containers: ['nope'] }), [], 'unknown names watch nothing');
  t.end();
});

const candidate: Candidate = {
  container: 'app',
  imagePath: '/spec/template/spec/containers/0/image',
  image: 'nginx:1.25.0',
  currentVersion: '1.25.0',
  newVersion: '1.26.1',
  newImage: 'nginx:1.26.1',
  change: 'minor',
};

t.test('decideAction chooses between nothing, a notification and an update', (t) => {
  const cases: {
    name: string;
    mode: 'AUTO_UPDATE' | 'NOTIFICATION' | 'DISABLED';
    candidates: Candidate[];
    state: ManagedState;
    want: string;
  }[] = [
    { name: 'DISABLED never acts', mode: 'DISABLED', candidates: [candidate], state: {}, want: 'none' },
    {
      name: 'no candidate means nothing to do',
      mode: 'NOTIFICATION',
      candidates: [],
      state: {},
      want: 'none',
    },
    {
      name: 'NOTIFICATION announces a new version',
      mode: 'NOTIFICATION',
      candidates: [candidate],
      state: {},
      want: 'notify',
    },
    {
      name: 'NOTIFICATION does not announce the same version twice',
      mode: 'NOTIFICATION',
      candidates: [candidate],
      state: { lastNotifiedVersion: '1.26.1' },
      want: 'none',
    },
    {
      name: 'NOTIFICATION announces a version newer than the last announced',
      mode: 'NOTIFICATION',
      candidates: [candidate],
      state: { lastNotifiedVersion: '1.26.0' },
      want: 'notify',
    },
    { name: 'AUTO_UPDATE updates', mode: 'AUTO_UPDATE', candidates: [candidate], state: {}, want: 'update' },
    {
      name: 'AUTO_UPDATE updates even if the version was announced before',
      mode: 'AUTO_UPDATE',
      candidates: [candidate],
      state: { lastNotifiedVersion: '1.26.1' },
      want: 'update',
    },
  ];
  for (const c of cases) {
    t.equal(
      decideAction({ mode: c.mode, candidates: c.candidates, state: c.state, watchedCount: 1 }).kind,
      c.want,
      c.name,
    );
  }
  const two = { ...candidate, container: 'side', newVersion: '0.2' };
  const action = decideAction({
    mode: 'NOTIFICATION',
    candidates: [candidate, two],
    state: { lastNotifiedVersion: 'app=1.26.1,side=0.1' },
    watchedCount: 2,
  });
  t.same(
    action.kind === 'notify' ? action.candidates.map((c) => c.container) : [],
    ['side'],
    'only containers with an unannounced version are announced',
  );
  t.end();
});

t.test('annotationPath escapes the slash of the key', (t) => {
  t.equal(
    annotationPath('image-watcher/last-notified'),
    '/metadata/annotations/image-watcher~1last-notified',
  );
  t.equal(annotationPath('a~b/c'), '/metadata/annotations/a~0b~1c');
  t.end();
});

const NOW = new Date('2026-11-23T10:00:00.123Z');

t.test('notifyPatch guards on the previous value or, when absent, on resourceVersion', (t) => {
  const first = notifyPatch(snapshot(), [candidate], ['app'], NOW);
  t.same(first, [
    { op: 'test', path: '/metadata/resourceVersion', value: '42' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1last-notified', value: '2026-11-23T10:00:00Z' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1last-notified-version', value: '1.26.1' },
  ]);
  const again = notifyPatch(
    snapshot({ 'image-watcher/last-notified-version': '1.26.0' }),
    [candidate],
    ['app'],
    NOW,
  );
  t.same(again[0], {
    op: 'test',
    path: '/metadata/annotations/image-watcher~1last-notified-version',
    value: '1.26.0',
  });
  const multi = notifyPatch(
    snapshot({ 'image-watcher/last-notified-version': 'app=1.26.0,side=0.1' }, [
      container('app', 'nginx:1.25.0'),
      container('side', 'busybox:1.0', 1),
    ]),
    [candidate],
    ['app', 'side'],
    NOW,
  );
  t.equal(multi[2]?.value, 'app=1.26.1,side=0.1', 'other containers keep their announced version');
  t.end();
});

t.test('updatePatch tests the current image, replaces it and writes the history', (t) => {
  const watched = [{ info: container('app', 'nginx:1.25.0'), ref: parseImageReference('nginx:1.25.0') }];
  t.same(updatePatch(snapshot(), [candidate], watched, NOW), [
    { op: 'test', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.25.0' },
    { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.26.1' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1previous-version', value: '1.25.0' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1current-version', value: '1.26.1' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1last-updated', value: '2026-11-23T10:00:00Z' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1last-updated-version', value: '1.26.1' },
  ]);
  const two = [
    ...watched,
    { info: container('side', 'busybox:1.0', 1), ref: parseImageReference('busybox:1.0') },
  ];
  const ops = updatePatch(snapshot(), [candidate], two, NOW);
  t.equal(
    ops.find((o) => o.path.endsWith('previous-version'))?.value,
    'app=1.25.0,side=1.0',
    'previous lists every watched container',
  );
  t.equal(
    ops.find((o) => o.path.endsWith('current-version'))?.value,
    'app=1.26.1,side=1.0',
    'current lists every watched container',
  );
  t.end();
});

t.test('rollbackPatch restores the old image guarded by our new one and records the failure', (t) => {
  const w = snapshot({ 'image-watcher/current-version': '1.26.1' }, [container('app', 'nginx:1.26.1')]);
  t.same(rollbackPatch(w, [candidate], ['app']), [
    { op: 'test', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.26.1' },
    { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.25.0' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1current-version', value: '1.25.0' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1last-failed-version', value: '1.26.1' },
  ]);
  t.end();
});

t.test('an update with a deadline is recorded in image-watcher/rollout until it settles', (t) => {
  const watched = [{ info: container('app', 'nginx:1.25.0'), ref: parseImageReference('nginx:1.25.0') }];
  const deadline = new Date(NOW.getTime() + 600_000);
  const ops = updatePatch(snapshot(), [candidate], watched, NOW, deadline);
  const record = ops.find((o) => o.path === '/metadata/annotations/image-watcher~1rollout');
  t.equal(record?.op, 'add');
  t.same(parsePendingRollout(record?.value as string), {
    ok: true,
    rollout: { deadline: '2026-11-23T10:10:00Z', changes: [candidate] },
  });
  t.equal(ops.length, 7, 'the usual history plus the record');

  // Settling removes the record, guarded by its exact value; nothing to do without one.
  const pending = snapshot({ 'image-watcher/rollout': record?.value as string }, [
    container('app', 'nginx:1.26.1'),
  ]);
  t.same(clearRolloutOps(pending), [
    { op: 'test', path: '/metadata/annotations/image-watcher~1rollout', value: record?.value },
    { op: 'remove', path: '/metadata/annotations/image-watcher~1rollout' },
  ]);
  t.same(clearRolloutOps(snapshot()), []);
  // A rollback settles it too.
  t.same(rollbackPatch(pending, [candidate], ['app']).slice(-2), clearRolloutOps(pending));
  t.end();
});

t.test('detectExternalReverts tells a GitOps revert from our own rollback', (t) => {
  const after = { previousVersion: '1.25.0', currentVersion: '1.26.1', lastUpdatedVersion: '1.26.1' };
  const cases: { name: string; image: string; state: ManagedState; want: number }[] = [
    {
      name: 'the previous image back while our annotations say new is a revert',
      image: 'nginx:1.25.0',
      state: after,
      want: 1,
    },
    { name: 'our new image still running is no revert', image: 'nginx:1.26.1', state: after, want: 0 },
    {
      name: 'our own rollback (current-version restored) is no revert',
      image: 'nginx:1.25.0',
      state: { ...after, currentVersion: '1.25.0', lastFailedVersion: '1.26.1' },
      want: 0,
    },
    {
      name: 'a revert already recorded is not reported again',
      image: 'nginx:1.25.0',
      state: { ...after, lastFailedVersion: '1.26.1' },
      want: 0,
    },
    { name: 'a different image set by a person is no revert', image: 'nginx:1.24.0', state: after, want: 0 },
    {
      name: 'a workload never updated by us has no revert',
      image: 'nginx:1.25.0',
      state: { currentVersion: '1.25.0' },
      want: 0,
    },
  ];
  for (const c of cases) {
    const got = detectExternalReverts(
      [{ info: container('app', c.image), ref: parseImageReference(c.image) }],
      c.state,
      1,
    );
    t.equal(got.length, c.want, c.name);
  }
  t.end();
});

t.test('revertPatch records the reverted version as failed and follows what runs', (t) => {
  const w = snapshot({ 'image-watcher/current-version': '1.26.1' }, [container('app', 'nginx:1.25.0')]);
  const ops = revertPatch(
    w,
    [
      {
        container: 'app',
        imagePath: '/x',
        image: 'nginx:1.25.0',
        revertedVersion: '1.26.1',
        runningVersion: '1.25.0',
      },
    ],
    ['app'],
  );
  t.same(ops, [
    { op: 'test', path: '/metadata/annotations/image-watcher~1current-version', value: '1.26.1' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1current-version', value: '1.25.0' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1last-failed-version', value: '1.26.1' },
  ]);
  t.end();
});

t.test('every patch creates a missing annotations map first, and never touches an existing one', (t) => {
  const bare = { ...snapshot(), hasAnnotations: false };
  const watched = [{ info: container('app', 'nginx:1.25.0'), ref: parseImageReference('nginx:1.25.0') }];
  const revert = {
    container: 'app',
    imagePath: '/spec/template/spec/containers/0/image',
    image: 'nginx:1.25.0',
    revertedVersion: '1.26.1',
    runningVersion: '1.25.0',
  };
  const builders: { name: string; build: (w: WorkloadSnapshot) => ReturnType<typeof notifyPatch> }[] = [
    { name: 'notifyPatch', build: (w) => notifyPatch(w, [candidate], ['app'], NOW) },
    { name: 'updatePatch', build: (w) => updatePatch(w, [candidate], watched, NOW) },
    { name: 'rollbackPatch', build: (w) => rollbackPatch(w, [candidate], ['app']) },
    { name: 'revertPatch', build: (w) => revertPatch(w, [revert], ['app']) },
  ];
  const createMap = [
    { op: 'test', path: '/metadata/resourceVersion', value: '42' },
    { op: 'add', path: '/metadata/annotations', value: {} },
  ];
  for (const b of builders) {
    const ops = b.build(bare);
    t.same(ops.slice(0, 2), createMap, `${b.name} without a map starts by creating it`);
    t.equal(
      ops.filter((o) => o.path === '/metadata/resourceVersion').length,
      1,
      `${b.name} tests resourceVersion once`,
    );
    t.notOk(
      b.build(snapshot()).some((o) => o.path === '/metadata/annotations'),
      `${b.name} with a map never adds the map itself (it would wipe other annotations)`,
    );
    // Applied as the API server does (RFC 6902, the fake API server's library).
    const doc = {
      metadata: { resourceVersion: '42' },
      spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:1.25.0' }] } } },
    };
    if (b.name === 'rollbackPatch') doc.spec.template.spec.containers[0]!.image = 'nginx:1.26.1';
    const out = fjp.applyPatch(doc, ops as Operation[], true, false).newDocument as {
      metadata: { annotations?: Record<string, string> };
    };
    t.ok(
      Object.keys(out.metadata.annotations ?? {}).some((k) => k.startsWith('image-watcher/')),
      `${b.name} applies to an object without annotations`,
    );
    const withOthers = { ...doc, metadata: { ...doc.metadata, annotations: { 'team/owner': 'shop' } } };
    const kept = fjp.applyPatch(withOthers, b.build(snapshot()) as Operation[], true, false).newDocument as {
      metadata: { annotations: Record<string, string> };
    };
    t.equal(kept.metadata.annotations['team/owner'], 'shop', `${b.name} keeps other annotations`);
  }
  t.end();
});

t.test('how long a notice claim is respected', (t) => {
  const now = Date.parse('2026-11-23T10:10:00Z');
  const ttl = 5 * 60_000;
  const cases: { name: string; at: string | undefined; firstSeen: number; want: number }[] = [
    { name: 'a fresh claim', at: '2026-11-23T10:08:00Z', firstSeen: now, want: 3 * 60_000 },
    { name: 'a claim as old as the time-out (a crash)', at: '2026-11-23T10:05:00Z', firstSeen: now, want: 0 },
    { name: 'an older claim', at: '2026-11-23T09:00:00Z', firstSeen: now, want: 0 },
    { name: 'no time, seen just now', at: undefined, firstSeen: now, want: ttl },
    { name: 'no time, seen 4 minutes ago', at: undefined, firstSeen: now - 4 * 60_000, want: 60_000 },
    { name: 'no time, seen a time-out ago', at: undefined, firstSeen: now - ttl, want: 0 },
    { name: 'not a timestamp', at: 'yesterday', firstSeen: now - 60_000, want: 4 * 60_000 },
    { name: 'ahead of this clock, seen just now', at: '2026-11-23T11:00:00Z', firstSeen: now, want: ttl },
    { name: 'ahead of this clock, seen long ago', at: '2099-01-01T00:00:00Z', firstSeen: now - ttl, want: 0 },
    { name: 'first seen "later" than now', at: undefined, firstSeen: now + 60_000, want: ttl },
  ];
  for (const c of cases) t.equal(noticeClaimWaitMs(c.at, c.firstSeen, now, ttl), c.want, c.name);
  t.end();
});
