// The fake API server's TokenReview and SubjectAccessReview, through the real client-node.
import * as k8s from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { startFakeKube } from '../support/fake-kube/index.ts';
import type { FakeKube, FakeKubeOptions } from '../support/fake-kube/index.ts';

async function start(t: Test, opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const kube = await startFakeKube(opts);
  t.teardown(() => kube.close());
  return kube;
}

async function rejection(p: Promise<unknown>): Promise<k8s.ApiException<string>> {
  try {
    await p;
  } catch (err) {
    return err as k8s.ApiException<string>;
  }
  throw new Error('expected the call to fail');
}

const sar = (spec: k8s.V1SubjectAccessReviewSpec): { body: k8s.V1SubjectAccessReview } => ({
  body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
});

t.test('TokenReview authenticates configured tokens and refuses others', async (t) => {
  const kube = await start(t, {
    identities: {
      'alice-token': { username: 'alice', uid: 'u-1', groups: ['dev'], extra: { scopes: ['a'] } },
      'bound-token': { username: 'system:serviceaccount:ci:bot', audiences: ['image-watcher'] },
    },
  });
  const authn = kube.kubeConfig().makeApiClient(k8s.AuthenticationV1Api);
  const review = (token: string, audiences?: string[]) =>
    authn.createTokenReview({
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, ...(audiences ? { audiences } : {}) },
      },
    });

  const alice = await review('alice-token');
  t.same(alice.status, {
    authenticated: true,
    user: {
      username: 'alice',
      uid: 'u-1',
      groups: ['dev', 'system:authenticated'],
      extra: { scopes: ['a'] },
    },
    audiences: ['https://kubernetes.default.svc'],
  });
  t.equal(alice.kind, 'TokenReview');
  t.equal(alice.spec.token, 'alice-token', 'the spec is echoed, as the real API does');

  const nobody = await review('forged');
  t.equal(nobody.status?.authenticated, undefined, 'not authenticated');
  t.same(nobody.status?.user, {});
  t.match(nobody.status?.error, /invalid bearer token/);

  t.equal((await review('bound-token', ['image-watcher'])).status?.authenticated, true, 'right audience');
  t.same((await review('bound-token', ['image-watcher', 'x'])).status?.audiences, ['image-watcher']);
  t.not((await review('bound-token')).status?.authenticated, true, 'default audience: no');
  t.not((await review('alice-token', ['image-watcher'])).status?.authenticated, true, 'wrong audience');

  kube.revokeIdentity('alice-token');
  t.not((await review('alice-token')).status?.authenticated, true, 'revoked');
  kube.addIdentity('new-token', { username: 'bob' });
  t.equal((await review('new-token')).status?.user?.username, 'bob');

  const empty = await rejection(review(''));
  t.equal(empty.code, 400, 'an empty token is a bad request');
  t.equal(
    kube.requestsMatching({ method: 'POST', pathPattern: '/apis/authentication.k8s.io/v1/tokenreviews' })
      .length,
    9,
  );
});

t.test('the review endpoints need the caller to be authenticated and take POST only', async (t) => {
  const kube = await start(t);
  const anonymous = await fetch(`${kube.url}/apis/authentication.k8s.io/v1/tokenreviews`, {
    method: 'POST',
    body: JSON.stringify({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: 'x' },
    }),
  });
  t.equal(anonymous.status, 401);
  const get = await fetch(`${kube.url}/apis/authorization.k8s.io/v1/subjectaccessreviews`, {
    headers: { authorization: 'Bearer fake-kube-token' },
  });
  t.equal(get.status, 405);
  const wrongKind = await fetch(`${kube.url}/apis/authorization.k8s.io/v1/subjectaccessreviews`, {
    method: 'POST',
    headers: { authorization: 'Bearer fake-kube-token', 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', spec: {} }),
  });
  t.equal(wrongKind.status, 400);
});

t.test('SubjectAccessReview evaluates RBAC-like rules', async (t) => {
  const kube = await start(t, {
    accessRules: [
      // ClusterRole image-watcher-api-reader bound to group readers.
      {
        name: 'readers',
        groups: ['readers'],
        verbs: ['list', 'get'],
        apiGroups: ['image-watcher.io'],
        resources: ['workloads', 'images'],
      },
      // ClusterRole image-watcher-api-updater bound in namespace shop to alice.
      {
        name: 'shop-updaters',
        users: ['alice'],
        namespaces: ['shop'],
        verbs: ['update'],
        apiGroups: ['image-watcher.io'],
        resources: ['workloads'],
      },
      {
        name: 'one',
        users: ['carol'],
        verbs: ['update'],
        apiGroups: ['image-watcher.io'],
        resources: ['workloads'],
        resourceNames: ['web'],
      },
      { name: 'sub', users: ['dave'], verbs: ['*'], apiGroups: ['apps'], resources: ['*/scale'] },
      { name: 'metrics', groups: ['prom'], verbs: ['get'], nonResourceURLs: ['/metrics', '/api/v1/*'] },
    ],
  });
  const authz = kube.kubeConfig().makeApiClient(k8s.AuthorizationV1Api);
  const ask = async (spec: k8s.V1SubjectAccessReviewSpec): Promise<boolean | undefined> =>
    (await authz.createSubjectAccessReview(sar(spec))).status?.allowed;
  const iw = (verb: string, resource: string, namespace?: string, name?: string) => ({
    group: 'image-watcher.io',
    version: 'v1',
    verb,
    resource,
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
  });

  const cases: [string, k8s.V1SubjectAccessReviewSpec, boolean][] = [
    [
      'a reader lists workloads',
      { user: 'r', groups: ['readers'], resourceAttributes: iw('list', 'workloads') },
      true,
    ],
    [
      'a reader gets images',
      { user: 'r', groups: ['readers'], resourceAttributes: iw('get', 'images') },
      true,
    ],
    [
      'a reader may not update',
      { user: 'r', groups: ['readers'], resourceAttributes: iw('update', 'workloads', 'shop', 'web') },
      false,
    ],
    [
      'another group is not a reader',
      { user: 'r', groups: ['other'], resourceAttributes: iw('list', 'workloads') },
      false,
    ],
    [
      'the same resource in another group is not granted',
      { user: 'r', groups: ['readers'], resourceAttributes: { ...iw('list', 'workloads'), group: 'apps' } },
      false,
    ],
    [
      'alice updates in shop',
      { user: 'alice', resourceAttributes: iw('update', 'workloads', 'shop', 'web') },
      true,
    ],
    [
      'alice not in prod',
      { user: 'alice', resourceAttributes: iw('update', 'workloads', 'prod', 'web') },
      false,
    ],
    [
      'a RoleBinding never grants cluster scope',
      { user: 'alice', resourceAttributes: iw('update', 'workloads') },
      false,
    ],
    [
      'carol updates web only',
      { user: 'carol', resourceAttributes: iw('update', 'workloads', 'x', 'web') },
      true,
    ],
    ['carol not api', { user: 'carol', resourceAttributes: iw('update', 'workloads', 'x', 'api') }, false],
    [
      'resourceNames never grant unnamed requests',
      { user: 'carol', resourceAttributes: iw('update', 'workloads', 'x') },
      false,
    ],
    [
      '*/scale matches a scale subresource',
      {
        user: 'dave',
        resourceAttributes: { group: 'apps', verb: 'patch', resource: 'deployments', subresource: 'scale' },
      },
      true,
    ],
    [
      '*/scale does not match the resource',
      { user: 'dave', resourceAttributes: { group: 'apps', verb: 'patch', resource: 'deployments' } },
      false,
    ],
    [
      'non-resource exact',
      { user: 'p', groups: ['prom'], nonResourceAttributes: { path: '/metrics', verb: 'get' } },
      true,
    ],
    [
      'non-resource prefix',
      { user: 'p', groups: ['prom'], nonResourceAttributes: { path: '/api/v1/workloads', verb: 'get' } },
      true,
    ],
    [
      'non-resource verb',
      { user: 'p', groups: ['prom'], nonResourceAttributes: { path: '/metrics', verb: 'post' } },
      false,
    ],
    [
      'system:masters may do anything',
      { user: 'root', groups: ['system:masters'], resourceAttributes: iw('update', 'workloads', 'a', 'b') },
      true,
    ],
    ['nobody else', { user: 'mallory', resourceAttributes: iw('list', 'workloads') }, false],
  ];
  for (const [name, spec, want] of cases) t.equal((await ask(spec)) === true, want, name);

  const allowed = await authz.createSubjectAccessReview(
    sar({ user: 'alice', resourceAttributes: iw('update', 'workloads', 'shop', 'web') }),
  );
  t.match(allowed.status, { allowed: true, reason: /RoleBinding "shop-updaters"/ });
  t.same(allowed.spec.resourceAttributes, iw('update', 'workloads', 'shop', 'web'), 'spec echoed');

  kube.clearAccessRules();
  t.equal(
    await ask({ user: 'r', groups: ['readers'], resourceAttributes: iw('list', 'workloads') }),
    false,
    'rules cleared',
  );
  kube.addAccessRule({ users: ['r'], verbs: ['list'], apiGroups: ['*'], resources: ['*'] });
  t.equal(await ask({ user: 'r', resourceAttributes: iw('list', 'workloads') }), true, 'wildcards');

  const neither = await rejection(authz.createSubjectAccessReview(sar({ user: 'r' })));
  t.equal(neither.code, 422, 'neither attribute kind: Invalid');
  t.match(neither.body, /exactly one of nonResourceAttributes or resourceAttributes/);
  const both = await rejection(
    authz.createSubjectAccessReview(
      sar({
        user: 'r',
        resourceAttributes: iw('get', 'images'),
        nonResourceAttributes: { path: '/', verb: 'get' },
      }),
    ),
  );
  t.equal(both.code, 422, 'both: Invalid');
  const nobody = await rejection(
    authz.createSubjectAccessReview(sar({ resourceAttributes: iw('get', 'images') })),
  );
  t.equal(nobody.code, 422, 'no user nor group: Invalid');
  t.match(nobody.body, /at least one of user or group/);
});
