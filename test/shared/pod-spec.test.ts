// One pod-spec containers reader: the webhook, the watcher and the CLI see the same containers in
// the same order.
import t from 'tap';
import { podContainers, podSpecOf, podSpecPointer } from '../../shared/pod-spec.ts';
import { toSnapshot } from '../../watcher/kube/workloads.ts';
import { containersOf as webhookContainers } from '../../webhook/admission/workload.ts';

const pod = {
  initContainers: [{ name: 'migrate', image: 'tool:1.0.0' }, { image: 'nameless:1' }],
  containers: [{ name: 'app', image: 'nginx:1.25.0' }, { name: 'noimage' }, { name: '', image: 'x:1' }],
};

t.test('regular containers first, then init ones; nameless entries skipped', (t) => {
  t.same(
    podContainers(pod).map((c) => `${c.field}/${c.index} ${c.name} ${c.image}`),
    ['containers/0 app nginx:1.25.0', 'containers/1 noimage ', 'initContainers/0 migrate tool:1.0.0'],
  );
  t.end();
});

t.test('the webhook and the watcher read the same containers per kind', (t) => {
  const objects = {
    Deployment: { metadata: { name: 'a', namespace: 'n' }, spec: { template: { spec: pod } } },
    CronJob: {
      metadata: { name: 'a', namespace: 'n' },
      spec: { jobTemplate: { spec: { template: { spec: pod } } } },
    },
  } as const;
  for (const [kind, obj] of Object.entries(objects) as [keyof typeof objects, object][]) {
    const watcher = toSnapshot(kind, obj)!.containers;
    const webhook = webhookContainers(kind, obj).filter((c) => c.image !== '');
    t.same(
      watcher.map((c) => c.name),
      webhook.map((c) => c.name),
      kind,
    );
    t.equal(watcher[0]?.imagePath, `${podSpecPointer(kind)}/containers/0/image`);
    t.ok(podSpecOf(kind, obj));
  }
  t.end();
});
