import t from 'tap';
import { snapshotOf, workloadObject } from '../support/snapshot.ts';

t.test('snapshotOf goes through the production conversion', (t) => {
  const w = snapshotOf({
    annotations: { 'image-watcher/mode': 'AUTO_UPDATE', 'other.io/x': 'dropped' },
    containers: ['nginx:1.25.0', { name: 'side', image: 'busybox:1.36' }],
    initContainers: [{ name: 'init', image: 'alpine:3.20' }],
  });
  t.same(w.annotations, { 'image-watcher/mode': 'AUTO_UPDATE' }, 'only our annotations are kept');
  t.same(
    w.containers.map((c) => [c.name, c.init, c.imagePath]),
    [
      ['app', false, '/spec/template/spec/containers/0/image'],
      ['side', false, '/spec/template/spec/containers/1/image'],
      ['init', true, '/spec/template/spec/initContainers/0/image'],
    ],
  );
  t.equal(snapshotOf({ annotations: null }).hasAnnotations, false);
  t.end();
});

t.test('per kind, the default status is a finished rollout', (t) => {
  const sts = snapshotOf({ kind: 'StatefulSet', replicas: 3, generation: 4 });
  t.match(sts.rollout, { generation: 4, observedGeneration: 4, replicas: 3, updatedReplicas: 3 });
  const ds = snapshotOf({ kind: 'DaemonSet', replicas: 2 });
  t.match(ds.rollout, { replicas: 2, updatedReplicas: 2, availableReplicas: 2 });
  const cj = snapshotOf({ kind: 'CronJob' });
  t.equal(cj.containers[0]!.imagePath, '/spec/jobTemplate/spec/template/spec/containers/0/image');
  t.equal(workloadObject({ kind: 'CronJob' }).apiVersion, 'batch/v1');
  t.end();
});
