import t from 'tap';
import { podSpecPointer, snapshotChanged, toSnapshot, workloadKey } from '../../../watcher/kube/workloads.ts';
import type { WorkloadKind, WorkloadSnapshot } from '../../../watcher/kube/types.ts';
import { StringPool } from '../../../shared/string-pool.ts';

function podTemplate(extra: Record<string, unknown> = {}) {
  return {
    template: {
      spec: {
        serviceAccountName: 'runner',
        imagePullSecrets: [{ name: 'ghcr' }, {}],
        initContainers: [{ name: 'migrate', image: 'app:1.0.0' }],
        containers: [
          { name: 'app', image: 'ghcr.io/org/app:1.0.0', env: [{ name: 'BIG', value: 'x'.repeat(1000) }] },
          { name: 'sidecar', image: 'envoy:1.30' },
        ],
        ...extra,
      },
    },
  };
}

const metadata = {
  name: 'web',
  namespace: 'shop',
  uid: 'u-1',
  resourceVersion: '42',
  generation: 3,
  annotations: {
    'image-watcher/mode': 'AUTO_UPDATE',
    'kubectl.kubernetes.io/last-applied-configuration': '{"huge":true}',
    'other/key': 'v',
  },
};

const cases: {
  name: string;
  input: { kind: WorkloadKind; obj: unknown };
  want: Partial<WorkloadSnapshot> | undefined;
}[] = [
  {
    name: 'a Deployment keeps containers, init containers, pull secrets and only image-watcher annotations',
    input: {
      kind: 'Deployment',
      obj: {
        metadata,
        spec: { replicas: 3, ...podTemplate() },
        status: {
          observedGeneration: 3,
          updatedReplicas: 2,
          availableReplicas: 3,
          readyReplicas: 3,
          conditions: [
            { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', lastUpdateTime: 'x' },
            { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', lastUpdateTime: 'x' },
          ],
        },
      },
    },
    want: {
      kind: 'Deployment',
      namespace: 'shop',
      name: 'web',
      uid: 'u-1',
      resourceVersion: '42',
      annotations: { 'image-watcher/mode': 'AUTO_UPDATE' },
      hasAnnotations: true,
      containers: [
        {
          name: 'app',
          image: 'ghcr.io/org/app:1.0.0',
          init: false,
          imagePath: '/spec/template/spec/containers/0/image',
        },
        {
          name: 'sidecar',
          image: 'envoy:1.30',
          init: false,
          imagePath: '/spec/template/spec/containers/1/image',
        },
        {
          name: 'migrate',
          image: 'app:1.0.0',
          init: true,
          imagePath: '/spec/template/spec/initContainers/0/image',
        },
      ],
      imagePullSecrets: ['ghcr'],
      serviceAccountName: 'runner',
      rollout: {
        generation: 3,
        observedGeneration: 3,
        replicas: 3,
        updatedReplicas: 2,
        availableReplicas: 3,
        readyReplicas: 3,
        // Conditions that hold (status True) are read by no decision and not kept.
        conditions: [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' }],
      },
    },
  },
  {
    name: 'a CronJob points into the job template',
    input: {
      kind: 'CronJob',
      obj: {
        metadata: { name: 'nightly', namespace: 'ops', uid: 'u-2', resourceVersion: '7', generation: 1 },
        spec: {
          schedule: '@daily',
          jobTemplate: {
            spec: { template: { spec: { containers: [{ name: 'job', image: 'busybox:1.36' }] } } },
          },
        },
      },
    },
    want: {
      containers: [
        {
          name: 'job',
          image: 'busybox:1.36',
          init: false,
          imagePath: '/spec/jobTemplate/spec/template/spec/containers/0/image',
        },
      ],
      serviceAccountName: 'default',
      annotations: {},
      hasAnnotations: false,
      rollout: {
        generation: 1,
        observedGeneration: undefined,
        replicas: undefined,
        updatedReplicas: undefined,
        availableReplicas: undefined,
        readyReplicas: undefined,
        conditions: [],
      },
    },
  },
  {
    name: 'a DaemonSet maps node counts onto replica fields',
    input: {
      kind: 'DaemonSet',
      obj: {
        metadata: { ...metadata, annotations: undefined },
        spec: podTemplate({ serviceAccountName: undefined, serviceAccount: 'legacy' }),
        status: {
          observedGeneration: 2,
          desiredNumberScheduled: 5,
          updatedNumberScheduled: 4,
          numberAvailable: 5,
          numberReady: 5,
        },
      },
    },
    want: {
      serviceAccountName: 'legacy',
      hasAnnotations: false,
      rollout: {
        generation: 3,
        observedGeneration: 2,
        replicas: 5,
        updatedReplicas: 4,
        availableReplicas: 5,
        readyReplicas: 5,
        conditions: [],
      },
    },
  },
  {
    name: 'a StatefulSet without replicas defaults to one desired replica',
    input: { kind: 'StatefulSet', obj: { metadata, spec: podTemplate() } },
    want: {
      rollout: {
        generation: 3,
        observedGeneration: undefined,
        replicas: 1,
        updatedReplicas: undefined,
        availableReplicas: undefined,
        readyReplicas: undefined,
        conditions: [],
      },
    },
  },
  {
    name: 'an annotations map without image-watcher keys still counts as present',
    input: {
      kind: 'Deployment',
      obj: { metadata: { ...metadata, annotations: { 'other/key': 'v' } }, spec: podTemplate() },
    },
    want: { annotations: {}, hasAnnotations: true },
  },
  {
    name: 'an empty annotations map counts as present',
    input: { kind: 'Deployment', obj: { metadata: { ...metadata, annotations: {} }, spec: podTemplate() } },
    want: { annotations: {}, hasAnnotations: true },
  },
  {
    name: 'containers without name or image are skipped',
    input: {
      kind: 'Deployment',
      obj: {
        metadata,
        spec: { template: { spec: { containers: [{ name: 'a' }, { image: 'x' }, 'junk'] } } },
      },
    },
    want: { containers: [] },
  },
  {
    name: 'an object without a namespace is not a workload',
    input: { kind: 'Deployment', obj: { metadata: { name: 'x' }, spec: podTemplate() } },
    want: undefined,
  },
  {
    name: 'an object without a pod template is not a workload',
    input: { kind: 'Deployment', obj: { metadata, spec: {} } },
    want: undefined,
  },
  { name: 'a string is not a workload', input: { kind: 'Deployment', obj: 'nope' }, want: undefined },
  { name: 'null is not a workload', input: { kind: 'CronJob', obj: null }, want: undefined },
];

t.test('toSnapshot', (t) => {
  for (const c of cases) {
    const got = toSnapshot(c.input.kind, structuredClone(c.input.obj));
    if (c.want === undefined) t.equal(got, undefined, c.name);
    else t.match(got, c.want, c.name);
  }
  t.end();
});

t.test('snapshots hold nothing but what decisions need', (t) => {
  const got = toSnapshot('Deployment', structuredClone(cases[0]!.input.obj))!;
  t.notOk(JSON.stringify(got).includes('BIG'), 'env values are dropped');
  t.notOk(JSON.stringify(got).includes('last-applied'), 'foreign annotations are dropped');
  t.same(Object.keys(got.rollout.conditions[0]!).sort(), ['reason', 'status', 'type']);
  t.end();
});

t.test('with a pool, snapshots of many workloads share their repeated values', (t) => {
  const pool = new StringPool();
  const first = toSnapshot('Deployment', structuredClone(cases[0]!.input.obj), pool)!;
  const pooled = pool.size;
  t.ok(pooled > 0, 'namespace, images, pointers and conditions are pooled');
  const again = toSnapshot('Deployment', structuredClone(cases[0]!.input.obj), pool)!;
  t.equal(pool.size, pooled, 'a second copy of the same workload adds nothing to the pool');
  t.same(again, first, 'and reads the same');
  t.same(toSnapshot('Deployment', structuredClone(cases[0]!.input.obj)), first, 'as without a pool');
  t.end();
});

t.test('podSpecPointer and workloadKey', (t) => {
  t.equal(podSpecPointer('Deployment'), '/spec/template/spec');
  t.equal(podSpecPointer('CronJob'), '/spec/jobTemplate/spec/template/spec');
  t.equal(workloadKey({ kind: 'Deployment', namespace: 'a', name: 'b' }), 'Deployment/a/b');
  t.end();
});

t.test('snapshotChanged ignores the resourceVersion alone', (t) => {
  const a = toSnapshot('Deployment', structuredClone(cases[0]!.input.obj))!;
  t.ok(snapshotChanged(undefined, a), 'a new workload is a change');
  t.notOk(snapshotChanged(a, { ...a, resourceVersion: '43' }), 'only the resourceVersion moved');
  t.ok(
    snapshotChanged(a, { ...a, annotations: { 'image-watcher/mode': 'NOTIFICATION' } }),
    'an annotation changed',
  );
  t.ok(
    snapshotChanged(a, { ...a, rollout: { ...a.rollout, observedGeneration: 4 } }),
    'the rollout progressed',
  );
  t.end();
});
