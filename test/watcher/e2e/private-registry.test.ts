// End to end against a private registry (the real docker-registry with htpasswd auth): a manual
// update to an explicit version asks with the workload's imagePullSecrets, like every check.
import t from 'tap';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import { deployment, fakeKube, imageOf, startWatcher } from './support.ts';

const USER = 'puller';
const PASSWORD = 'pull-secret-password-7';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
let registry: RunningRegistry;

t.before(async () => {
  registry = await startRegistry({ kind: 'htpasswd', users: { [USER]: PASSWORD } });
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1', '1.1.0'], buildImage(), BASIC);
});
t.teardown(() => registry.stop());

const web = (tag: string) => `${registry.host}/shop/web:${tag}`;

function privateDeployment(tag: string): object {
  const d = deployment('web', web(tag)) as {
    spec: { template: { spec: Record<string, unknown> } };
  };
  d.spec.template.spec.imagePullSecrets = [{ name: 'pull' }];
  return d;
}

const pullSecret = () => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'pull', namespace: 'shop' },
  type: 'kubernetes.io/dockerconfigjson',
  data: {
    '.dockerconfigjson': Buffer.from(
      JSON.stringify({ auths: { [registry.host]: { username: USER, password: PASSWORD } } }),
    ).toString('base64'),
  },
});

t.test('an explicit ?version= on a private registry is found with the pull secret', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(pullSecret(), privateDeployment('1.0.0'));
  const w = await startWatcher(t.teardown.bind(t), kube);
  const res = await w.app.inject({
    method: 'POST',
    url: '/api/v1/workloads/shop/deployment/web/update?version=1.0.1',
    headers: { authorization: 'Bearer tok_0123456789abcdef' },
  });
  t.equal(res.statusCode, 202, res.body);
  t.match(res.json(), { status: 'updating', changes: [{ container: 'app', from: '1.0.0', to: '1.0.1' }] });
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), web('1.0.1'));
  await w.controller.idle();
});

t.test('without the pull secret: the registry refusal is the answer, not a missing tag', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(privateDeployment('1.0.0'));
  const w = await startWatcher(t.teardown.bind(t), kube);
  const res = await w.app.inject({
    method: 'POST',
    url: '/api/v1/workloads/shop/deployment/web/update?version=1.0.1',
    headers: { authorization: 'Bearer tok_0123456789abcdef' },
  });
  t.equal(res.statusCode, 502, res.body);
  t.match(res.json(), { code: 'E_UPDATE_FAILED', error: /^cannot ask the registry: .*401/ });
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), web('1.0.0'));
});
