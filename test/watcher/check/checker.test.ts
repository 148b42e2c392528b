import { pino } from 'pino';
import t from 'tap';
import type { ImageReference } from '../../../shared/image-ref.ts';
import { canonicalName } from '../../../shared/image-ref.ts';
import type { WatchSettings } from '../../../shared/annotations.ts';
import { checkWorkloads } from '../../../watcher/check/checker.ts';
import type { CheckerDeps } from '../../../watcher/check/checker.ts';
import type { WorkloadSnapshot } from '../../../watcher/kube/types.ts';
import { credentialsFor } from '../../../watcher/registry/credentials.ts';
import type { RegistryClient, RegistryCredentials } from '../../../watcher/registry/types.ts';
import { snapshotOf } from '../../support/snapshot.ts';

const settings: WatchSettings = {
  mode: 'NOTIFICATION',
  strategy: 'ALL',
  releaseUrl: undefined,
  include: undefined,
  exclude: undefined,
  containers: undefined,
  schedule: undefined,
  timezone: undefined,
  minAgeMs: undefined,
  constraint: undefined,
  verify: undefined,
  verifyKey: undefined,
  verifyIdentity: undefined,
};

function workload(
  name: string,
  namespace: string,
  images: string[],
  secrets: string[] = [],
  sa = 'default',
): WorkloadSnapshot {
  return snapshotOf({
    name,
    namespace,
    uid: name,
    containers: images.map((image, i) => ({ name: `c${i}`, image })),
    imagePullSecrets: secrets,
    serviceAccountName: sa,
  });
}

const dockerConfig = (host: string, user: string) => ({
  auths: { [host]: { auth: Buffer.from(`${user}:secret-${user}`).toString('base64') } },
});

function deps(over: Partial<CheckerDeps> = {}) {
  const seen: { repo: string; credentials: RegistryCredentials | undefined }[] = [];
  const reads = { secrets: 0, accounts: 0 };
  const registry: RegistryClient = {
    listTags(ref: ImageReference, opts) {
      seen.push({ repo: canonicalName(ref), credentials: opts?.credentials });
      if (ref.repository === 'broken/app') return Promise.reject(new Error('connection refused'));
      return Promise.resolve(['1.0.0', '1.1.0']);
    },
    getDigest: () => Promise.reject(new Error('unused')),
    getImageLabels: () => Promise.resolve({}),
    getManifestFacts: () => Promise.reject(new Error('unused')),
    getImageCreated: () => Promise.reject(new Error('unused')),
    newCycle: () => undefined,
  };
  const d: CheckerDeps = {
    registry,
    gateway: {
      getDockerConfigSecret(namespace, name) {
        reads.secrets++;
        if (name === 'ghcr-pull') return Promise.resolve(dockerConfig('ghcr.io', 'team'));
        if (name === 'quay-pull') return Promise.resolve(dockerConfig('quay.io', 'robot'));
        if (name === 'forbidden') return Promise.reject(new Error('403'));
        return Promise.resolve(undefined);
      },
      getServiceAccountPullSecrets(_namespace, name) {
        reads.accounts++;
        return Promise.resolve(name === 'builder' ? ['quay-pull'] : []);
      },
    },
    credentialsFor,
    concurrency: 2,
    logger: pino({ level: 'silent' }),
    digestBaselines: new Map(),
    ...over,
  };
  return { d, seen, reads };
}

t.test('credentials come from pull secrets, then the service account, then DOCKER_CONFIG', async (t) => {
  const { d, seen, reads } = deps({ fallbackDockerConfig: dockerConfig('registry.example.com', 'local') });
  const targets = [
    workload('a', 'ns1', ['ghcr.io/org/a:1.0.0'], ['forbidden', 'ghcr-pull']),
    workload('b', 'ns1', ['quay.io/org/b:1.0.0'], [], 'builder'),
    workload('c', 'ns1', ['registry.example.com/c:1.0.0']),
    workload('d', 'ns1', ['docker.io/library/nginx:1.0.0']),
    workload('e', 'ns1', ['ghcr.io/org/e:1.0.0'], ['ghcr-pull']),
  ].map((snapshot) => ({ key: snapshot.name, snapshot, settings }));
  const checks = await checkWorkloads(targets, d);
  const creds = Object.fromEntries(seen.map((s) => [s.repo, s.credentials?.username]));
  t.same(creds, {
    'ghcr.io/org/a': 'team',
    'quay.io/org/b': 'robot',
    'registry.example.com/c': 'local',
    'docker.io/library/nginx': undefined,
    'ghcr.io/org/e': 'team',
  });
  t.equal(reads.secrets, 3, 'each secret read once per cycle');
  t.equal(reads.accounts, 2, 'each service account (default, builder) read once per cycle');
  t.same(
    checks.map((c) => c.candidates[0]?.newVersion),
    ['1.1.0', '1.1.0', '1.1.0', '1.1.0', '1.1.0'],
  );
});

t.test('a failing repository marks only its containers', async (t) => {
  const { d } = deps();
  const w = workload('mixed', 'ns', ['ghcr.io/broken/app:1.0.0', 'ghcr.io/org/ok:1.0.0', 'NOT AN IMAGE']);
  const [check] = await checkWorkloads([{ key: 'k', snapshot: w, settings }], d);
  t.match(check?.containers, [
    { name: 'c2', error: { code: 'E_IMAGE_REF' } },
    { name: 'c0', error: { code: 'E_INTERNAL', message: /connection refused/ }, latest: undefined },
    { name: 'c1', error: undefined, latest: '1.1.0' },
  ]);
  t.equal(check?.candidates.length, 1);
  t.ok(check?.error, 'the workload reports an error');
});

t.test('the containers annotation limits what is asked', async (t) => {
  const { d, seen } = deps();
  const w = workload('two', 'ns', ['ghcr.io/org/a:1.0.0', 'ghcr.io/org/b:1.0.0']);
  await checkWorkloads([{ key: 'k', snapshot: w, settings: { ...settings, containers: ['c1'] } }], d);
  t.same(
    seen.map((s) => s.repo),
    ['ghcr.io/org/b'],
  );
});
