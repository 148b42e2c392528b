// `image-watcher run --once` (a real CLI process, and in-process) against the fake API server and
// the real docker-registry: the dry run writes nothing (the API server's request log) and sends
// nothing (a local webhook channel), the real run patches and notifies, exit codes 0/1/2/3.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { run } from '../../../watcher/cli/run.ts';
import { buildImage } from '../../support/images.ts';
import { freePort, pushImage, startRegistry } from '../../support/registry.ts';
import { startServer } from '../release-notes/helpers.ts';
import { annotationsOf, deployment, fakeKube, imageOf } from './support.ts';
import { cliProcess } from '../../support/process.ts';

interface PlanJson {
  dryRun: boolean;
  pending: number;
  errors: number;
  plan: { workload: string; container: string; current: string; candidate: string | null; action: string }[];
}

t.test('run --once: dry run, real run, exit codes', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.stop());
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1'], buildImage());
  const hook = await startServer((_req, res) => res.writeHead(204).end());
  t.teardown(() => hook.close());
  const dead = await freePort();

  const kube = await fakeKube(t.teardown.bind(t));
  const inNamespace = (ns: string, o: object) => {
    (o as { metadata: { namespace: string } }).metadata.namespace = ns;
    return o;
  };
  kube.seed(
    deployment('web', `${registry.host}/shop/web:1.0.0`, { 'image-watcher/mode': 'AUTO_UPDATE' }),
    deployment('current', `${registry.host}/shop/web:1.0.1`, { 'image-watcher/mode': 'AUTO_UPDATE' }),
    inNamespace('ops', deployment('api', `${registry.host}/shop/web:1.0.0`)),
    inNamespace('broken', deployment('gone', `127.0.0.1:${dead}/shop/web:1.0.0`)),
    inNamespace(
      'pinned',
      deployment('old', `${registry.host}/shop/web:1.0.0`, {
        'image-watcher/mode': 'AUTO_UPDATE',
        'image-watcher/constraint': '<1.0.1',
      }),
    ),
  );
  const dir = await mkdtemp(join(tmpdir(), 'iw-once-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, kube.kubeConfig().exportConfig());
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    TS_NODE_TRANSPILE_ONLY: '1',
    KUBECONFIG: kubeconfig,
    DOCKER_CONFIG: dir,
    NOTIFY_WEBHOOK_URL: `${hook.origin}/hook`,
    NOTIFY_WEBHOOK_SECRET: 'webhook-secret-0123456789',
    NOTIFY_RETRIES: '0',
  };
  const cli = (args: string[], extra: Record<string, string> = {}) =>
    // Start-up transpiles the sources: slow on a loaded machine, never a hang (the tap timeout is the backstop).
    cliProcess(args, { env: { ...env, ...extra }, timeoutMs: 240_000 });
  const writes = () => kube.requests.filter((r) => !['GET', 'HEAD'].includes(r.method));

  // One real CLI process proves the wiring; the other runs call run() in-process, as main.ts does.
  const inProcess = async (args: string[], extra: Record<string, string> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(args, {
      env: { ...env, ...extra },
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      version: '0.0.0',
      kubeConfig: kube.kubeConfig(),
    });
    return { code, stdout: out.join(''), stderr: err.join('') };
  };
  const dry = await cli(['run', '--once', '--dry-run', '--json', '--namespace', 'shop']);
  t.equal(dry.code, 3, `updates pending: ${dry.stderr}`);
  const plan = JSON.parse(dry.stdout) as PlanJson;
  t.match(plan, {
    dryRun: true,
    pending: 1,
    errors: 0,
    plan: [
      { workload: 'shop/Deployment/current', current: '1.0.1', candidate: null, action: 'none' },
      {
        workload: 'shop/Deployment/web',
        container: 'app',
        current: '1.0.0',
        candidate: '1.0.1',
        action: 'update',
      },
    ],
  });
  t.equal(plan.plan.length, 2, '--namespace: only shop');
  const dryOps = await inProcess(['run', '--once', '--dry-run', '--namespace', 'ops']);
  t.equal(dryOps.code, 3);
  t.match(dryOps.stdout, /ops\/Deployment\/api\s+app\s+1\.0\.0 -> 1\.0\.1\s+would notify\n/);
  t.match(dryOps.stdout, /dry run: nothing was changed or sent/);
  t.same(writes(), [], 'the dry runs sent no PATCH, POST or PUT to the API server');
  t.ok(
    kube.requests.some((r) => r.method === 'GET' && r.path.includes('/deployments')),
    'it did read',
  );
  t.equal(hook.requests.length, 0, 'and no notice');
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), `${registry.host}/shop/web:1.0.0`);

  const real = await inProcess(['run', '--once', '--namespace', 'shop']);
  t.equal(real.code, 3, real.stderr);
  t.match(real.stdout, /shop\/Deployment\/web\s+app\s+1\.0\.0 -> 1\.0\.1\s+updated, rollout started/);
  t.match(real.stdout, /shop\/Deployment\/current\s+app\s+1\.0\.1\s+up to date/);
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), `${registry.host}/shop/web:1.0.1`, 'patched');
  t.ok(kube.requestsMatching({ method: 'PATCH', pathPattern: /deployments\/web$/ }).length > 0);

  const notify = await inProcess(['run', '--once', '--json', '--namespace', 'ops']);
  t.equal(notify.code, 3);
  t.match(JSON.parse(notify.stdout), { plan: [{ workload: 'ops/Deployment/api', action: 'notify' }] });
  t.ok(hook.requests.length > 0, 'the real run sent the notice');
  t.equal(
    annotationsOf(kube.get('Deployment', 'ops', 'api'))['image-watcher/last-notified-version'],
    '1.0.1',
  );

  // The rollout started above is judged by the next run: up to date then, nothing pending.
  const again = await inProcess(['run', '--once', '--namespace', 'shop']);
  t.equal(again.code, 0, again.stdout + again.stderr);
  t.notOk(annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/rollout'], 'record cleared');

  const failing = await inProcess(['run', '--once', '--json', '--namespace', 'broken']);
  t.equal(failing.code, 1);
  t.match(JSON.parse(failing.stdout), {
    errors: 1,
    plan: [{ workload: 'broken/Deployment/gone', action: 'error', error: /ECONNREFUSED/ }],
  });
  t.match(failing.stderr, /1 of 1 containers had errors/);

  // A version the policy holds back is in the plan with its reason, and counts as pending.
  const held = await inProcess(['run', '--once', '--dry-run', '--json', '--namespace', 'pinned']);
  t.equal(held.code, 3, held.stderr);
  t.match(JSON.parse(held.stdout), {
    pending: 1,
    plan: [
      { workload: 'pinned/Deployment/old', action: 'none', held: { reason: 'constraint', version: '1.0.1' } },
    ],
  });

  const usage = await inProcess(['run', '--dry-run']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /run needs --once/);
  const badEnv = await inProcess(['run', '--once', '--json'], { WATCH_SELECTOR: 'a in (' });
  t.equal(badEnv.code, 2);
  t.match(JSON.parse(badEnv.stdout), { error: { code: 'E_CONFIG', message: /WATCH_SELECTOR/ } });
});

t.test('run --help, and bad arguments of run', async (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const deps = {
    env: {},
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    version: '0.0.0',
  };
  t.equal(await run(['run', '--help'], deps), 0);
  t.match(out.join(''), /^Usage:\n {2}image-watcher run --once \[--dry-run\] \[--namespace NS\] \[--json\]/);
  t.match(out.join(''), /Exit codes: 0 nothing pending, 3 updates pending or applied, 1 errors, 2 bad/);
  t.notMatch(out.join(''), /--strategy/, 'only the options of run');
  for (const [args, message] of [
    [['run', '--once', 'extra'], /run takes no arguments/],
    [['run', '--once', '--strategy', 'MAJOR'], /--strategy is not an option of run/],
    [['run', '--once', '--namespace', 'Not_A_Namespace'], /is not a namespace name/],
    [['check', 'nginx:1', '--dry-run'], /--dry-run is an option of run, not of check/],
  ] as const) {
    err.length = 0;
    t.equal(await run(args, deps), 2, args.join(' '));
    t.match(err.join(''), message);
  }
});
