import t from 'tap';
import type {
  KubeGateway,
  RolloutFields,
  WorkloadKind,
  WorkloadSnapshot,
} from '../../../watcher/kube/types.ts';
import type { RolloutStatus } from '../../../watcher/update/rollout.ts';
import { evaluateRollout, waitForRollout } from '../../../watcher/update/rollout.ts';

function status(over: Partial<RolloutStatus> = {}): RolloutStatus {
  return {
    generation: 2,
    observedGeneration: 2,
    replicas: 3,
    updatedReplicas: 3,
    availableReplicas: 3,
    readyReplicas: 3,
    conditions: [],
    ...over,
  };
}

const deadline = {
  type: 'Progressing',
  status: 'False',
  reason: 'ProgressDeadlineExceeded',
  message: 'ReplicaSet "web-2" has timed out progressing.',
};

t.test('evaluateRollout follows kubectl rollout status', (t) => {
  const cases: { name: string; kind: WorkloadKind; s: RolloutStatus; want: string }[] = [
    {
      name: 'a Deployment fully updated and available is complete',
      kind: 'Deployment',
      s: status(),
      want: 'complete',
    },
    {
      name: 'an old observedGeneration is still progressing',
      kind: 'Deployment',
      s: status({ observedGeneration: 1 }),
      want: 'progressing',
    },
    {
      name: 'a missing observedGeneration is still progressing',
      kind: 'Deployment',
      s: status({ observedGeneration: undefined }),
      want: 'progressing',
    },
    {
      name: 'replicas not all updated is progressing',
      kind: 'Deployment',
      s: status({ updatedReplicas: 2 }),
      want: 'progressing',
    },
    {
      name: 'replicas updated but not available is progressing',
      kind: 'Deployment',
      s: status({ availableReplicas: 1 }),
      want: 'progressing',
    },
    {
      name: 'ProgressDeadlineExceeded has failed',
      kind: 'Deployment',
      s: status({ updatedReplicas: 1, conditions: [deadline] }),
      want: 'failed',
    },
    {
      name: 'Progressing=True is not a failure',
      kind: 'Deployment',
      s: status({
        updatedReplicas: 1,
        conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' }],
      }),
      want: 'progressing',
    },
    {
      name: 'a StatefulSet with revisions still differing is progressing',
      kind: 'StatefulSet',
      s: status({ currentRevision: 'a', updateRevision: 'b' }),
      want: 'progressing',
    },
    {
      name: 'a StatefulSet on its update revision is complete',
      kind: 'StatefulSet',
      s: status({ currentRevision: 'b', updateRevision: 'b' }),
      want: 'complete',
    },
    {
      name: 'a DaemonSet with every scheduled pod updated and available is complete',
      kind: 'DaemonSet',
      s: status({ replicas: 5, updatedReplicas: 5, availableReplicas: 5 }),
      want: 'complete',
    },
    {
      name: 'a DaemonSet with a pod left is progressing',
      kind: 'DaemonSet',
      s: status({ replicas: 5, updatedReplicas: 4, availableReplicas: 5 }),
      want: 'progressing',
    },
    {
      name: 'a CronJob has nothing to wait for',
      kind: 'CronJob',
      s: status({ observedGeneration: undefined }),
      want: 'complete',
    },
    {
      name: 'zero replicas is complete at once',
      kind: 'Deployment',
      s: status({ replicas: 0, updatedReplicas: undefined, availableReplicas: undefined }),
      want: 'complete',
    },
  ];
  for (const c of cases) t.equal(evaluateRollout(c.kind, 2, c.s).status, c.want, c.name);
  t.end();
});

function fakeGateway(
  sequence: (RolloutFields | undefined)[],
): Pick<KubeGateway, 'getWorkload'> & { calls: number } {
  const gw = {
    calls: 0,
    getWorkload(): Promise<WorkloadSnapshot | undefined> {
      const r = sequence[Math.min(gw.calls, sequence.length - 1)];
      gw.calls++;
      if (!r) return Promise.resolve(undefined);
      return Promise.resolve({
        kind: 'Deployment',
        namespace: 'ns',
        name: 'web',
        uid: 'u',
        resourceVersion: '1',
        annotations: {},
        hasAnnotations: true,
        containers: [],
        imagePullSecrets: [],
        serviceAccountName: 'default',
        rollout: r,
      });
    },
  };
  return gw satisfies Pick<KubeGateway, 'getWorkload'>;
}

function clock() {
  let now = 0;
  return {
    now: () => now,
    sleep: (ms: number) => {
      now += ms;
      return Promise.resolve();
    },
  };
}

/** The workload every waitForRollout test watches: generation 2 of ns/web. */
const WEB = { kind: 'Deployment', namespace: 'ns', name: 'web', generation: 2 } as const;

t.test('waitForRollout polls until complete', async (t) => {
  const gw = fakeGateway([status({ observedGeneration: 1 }), status({ updatedReplicas: 1 }), status()]);
  const c = clock();
  const got = await waitForRollout({
    gateway: gw,
    ...WEB,
    timeoutMs: 60_000,
    intervalMs: 1000,
    ...c,
  });
  t.same(got, { status: 'complete' });
  t.equal(gw.calls, 3);
});

t.test('waitForRollout gives up at the timeout with the last reason', async (t) => {
  const gw = fakeGateway([status({ updatedReplicas: 1 })]);
  const got = await waitForRollout({
    gateway: gw,
    ...WEB,
    timeoutMs: 10_000,
    intervalMs: 1000,
    ...clock(),
  });
  t.equal(got.status, 'failed');
  t.match(got.status === 'failed' ? got.reason : '', /within 10s: 1 of 3 replicas updated/);
});

t.test('waitForRollout reports a deleted workload and a shutdown as failures', async (t) => {
  const gone = await waitForRollout({
    gateway: fakeGateway([undefined]),
    ...WEB,
    timeoutMs: 10_000,
    ...clock(),
  });
  t.match(gone, { status: 'failed', reason: /deleted/ });
  const ac = new AbortController();
  ac.abort();
  const stopped = await waitForRollout({
    gateway: fakeGateway([status()]),
    ...WEB,
    timeoutMs: 10_000,
    signal: ac.signal,
    ...clock(),
  });
  t.match(stopped, { status: 'failed', reason: /shutting down/ });
});

t.test('waitForRollout keeps polling through a transient API error', async (t) => {
  const good = fakeGateway([status()]);
  let calls = 0;
  const gateway: Pick<KubeGateway, 'getWorkload'> = {
    getWorkload: (kind, namespace, name) =>
      ++calls === 1
        ? Promise.reject(new Error('etcdserver: request timed out'))
        : good.getWorkload(kind, namespace, name),
  };
  const ok = await waitForRollout({
    gateway,
    ...WEB,
    timeoutMs: 10_000,
    intervalMs: 1000,
    ...clock(),
  });
  t.same(ok, { status: 'complete' });
  const down = await waitForRollout({
    gateway: { getWorkload: () => Promise.reject(new Error('connection refused')) },
    ...WEB,
    timeoutMs: 10_000,
    intervalMs: 1000,
    ...clock(),
  });
  t.match(down, { status: 'failed', reason: /within 10s: cannot read the workload: connection refused/ });
});
