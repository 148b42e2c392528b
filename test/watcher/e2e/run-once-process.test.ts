// RUN_ONCE=TRUE: the real watcher process (watcher/main.ts) against the fake API server and the
// real docker-registry does one pass and exits: 0 after updating, 1 when a workload failed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildImage } from '../../support/images.ts';
import { startEntryPoint } from '../../support/process.ts';
import { freePort, pushImage, startRegistry } from '../../support/registry.ts';
import { deployment, fakeKube, imageOf } from './support.ts';

t.test('RUN_ONCE=TRUE: one pass, then exit 0, or 1 on errors', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.stop());
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1'], buildImage());
  const dead = await freePort();
  const kube = await fakeKube(t.teardown.bind(t));
  const broken = deployment('gone', `127.0.0.1:${dead}/shop/web:1.0.0`) as {
    metadata: { namespace: string };
  };
  broken.metadata.namespace = 'broken';
  kube.seed(
    deployment('web', `${registry.host}/shop/web:1.0.0`, { 'image-watcher/mode': 'AUTO_UPDATE' }),
    broken,
  );
  const dir = await mkdtemp(join(tmpdir(), 'iw-cron-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, kube.kubeConfig().exportConfig());
  const env = { HOME: dir, KUBECONFIG: kubeconfig, DOCKER_CONFIG: dir, RUN_ONCE: 'TRUE', LOG_LEVEL: 'INFO' };

  const cron = startEntryPoint('watcher/main.ts', { ...env, WATCH_NAMESPACES: 'shop' });
  const cronBroken = startEntryPoint('watcher/main.ts', { ...env, WATCH_NAMESPACES: 'broken' });
  const [code, brokenCode] = await Promise.all([cron.exited, cronBroken.exited]);
  t.equal(code, 0, cron.stderr());
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), `${registry.host}/shop/web:1.0.1`, 'it acted');
  t.match(
    cron.lines.find((l) => l.msg === 'run once: plan'),
    { workload: { name: 'web' }, from: '1.0.0', to: '1.0.1', action: 'update' },
  );
  t.match(
    cron.lines.find((l) => l.msg === 'run once: pass done; exiting'),
    { containers: 1, pending: 1, errors: 0 },
  );
  t.notOk(
    cron.lines.some((l) => l.msg === 'watcher started'),
    'no HTTP port is opened for one pass',
  );
  t.equal(brokenCode, 1, cronBroken.stderr());
  t.match(
    cronBroken.lines.find((l) => l.msg === 'run once: plan'),
    { workload: { name: 'gone' }, action: 'error', error: /ECONNREFUSED/ },
  );
  t.equal(kube.requestsMatching({ pathPattern: '/leases' }).length, 0, 'no leader election');
});
