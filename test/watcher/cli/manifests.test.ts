import t from 'tap';
import { findTargets, parseYamlDocuments } from '../../../watcher/cli/manifests.ts';
import { UsageError } from '../../../watcher/cli/args.ts';

const MANIFESTS = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    image-watcher/strategy: minor
    image-watcher/containers: app
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: registry.local/migrate:1.0.0
      containers:
        - name: app
          image: registry.local/web:1.2.3
        - name: sidecar
          image: envoyproxy/envoy:v1.30.1
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: job
              image: busybox:1.36
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  annotations:
    image-watcher/mode: disabled
spec:
  template:
    spec:
      containers:
        - name: agent
          image: agent:2.0.0
---
apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
    - name: shell
      image: alpine:3.19
---
apiVersion: v1
kind: Service
metadata:
  name: web
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  annotations:
    image-watcher/strategie: PATCH
spec:
  template:
    spec:
      containers:
        - name: db
          image: postgres:16.1
`;

t.test('finds the watched containers of each supported kind and honours the annotations', (t) => {
  const { targets, problems, disabled, workloads } = findTargets(
    'm.yaml',
    parseYamlDocuments('m.yaml', MANIFESTS),
  );
  t.same(
    targets.map((x) => [x.kind, x.namespace, x.name, x.container, x.image, x.settings.strategy]),
    [
      ['Deployment', 'shop', 'web', 'app', 'registry.local/web:1.2.3', 'MINOR'],
      ['CronJob', 'default', 'nightly', 'job', 'busybox:1.36', 'ALL'],
      ['Pod', 'default', 'debug', 'shell', 'alpine:3.19', 'ALL'],
    ],
    'containers annotation limits the Deployment to app; DISABLED DaemonSet and the Service are skipped',
  );
  t.same(
    disabled.map((x) => [x.kind, x.name, x.container, x.settings.mode]),
    [['DaemonSet', 'agent', 'agent', 'DISABLED']],
    'the DISABLED DaemonSet is listed apart, to be shown as disabled',
  );
  t.equal(workloads, 5, 'five workloads (the Service is none)');
  t.equal(problems.length, 1, 'the StatefulSet with a misspelt annotation is a problem, not a crash');
  t.match(problems[0], { kind: 'StatefulSet', name: 'db', message: /image-watcher\/strategie/ });
  t.end();
});

t.test('a strategy override wins over the annotations', (t) => {
  const { targets } = findTargets('m.yaml', parseYamlDocuments('m.yaml', MANIFESTS), { strategy: 'PATCH' });
  t.ok(targets.every((x) => x.settings.strategy === 'PATCH'));
  t.end();
});

t.test('kind: List items are read', (t) => {
  const list = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: { name: p }
    spec: { containers: [{ name: c, image: "nginx:1.25.3" }] }
`;
  t.equal(findTargets('l.yaml', parseYamlDocuments('l.yaml', list)).targets.length, 1);
  t.end();
});

t.test('invalid YAML names the file, line and column, in one line without a dangling colon', (t) => {
  const cases = [
    {
      name: 'an unclosed flow sequence',
      input: 'kind: Pod\nmetadata: [unclosed\n',
      want: 'bad.yaml:3:1: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    },
    {
      name: 'a nested mapping on one line',
      input: 'this is: not: yaml\n',
      want: 'bad.yaml:1:10: not valid YAML: Nested mappings are not allowed in compact mappings',
    },
    {
      name: 'garbage in the second document',
      input: 'apiVersion: v1\nkind: Pod\n---\n{{ garbage }}\n  - x: :\n',
      want: 'bad.yaml:5:3: not valid YAML: Unexpected seq-item-ind at node end',
    },
    {
      name: 'a tab as indentation',
      input: '\t- a\n',
      want: 'bad.yaml:1:1: not valid YAML: Tabs are not allowed as indentation',
    },
  ];
  for (const c of cases) {
    const err = t.throws(() => parseYamlDocuments('bad.yaml', c.input), UsageError, c.name);
    t.equal((err as Error).message, c.want, c.name);
  }
  t.end();
});
