// The shipped images, built offline by scripts/images.sh, run as the cluster runs them (podman with
// runc, read-only root, no capabilities, uid 10001, 256 MiB): the webhook answers /mutate over TLS,
// the watcher in its container watches the fake API server, asks the real registry, notifies and
// updates a workload; both stop with 0 on SIGTERM. Then both go to a registry with skopeo and
// `image-watcher check --labels` reads their OCI labels.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { run } from '../../watcher/cli/run.ts';
import { buildImage } from '../support/images.ts';
import { freePort, pushImage, startRegistry } from '../support/registry.ts';
import { startServer } from '../watcher/release-notes/helpers.ts';
import { annotationsOf, deployment, fakeKube, imageOf, until } from '../watcher/e2e/support.ts';
import { elfSections } from './elf.ts';
import {
  images,
  podman,
  podmanResult,
  pushWithSkopeo,
  ROOT,
  runOnce,
  sh,
  skipReason,
  start,
  startWatcherContainer,
  unpackedSize,
} from './podman.ts';

const skip = skipReason();
const pkg = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as {
  version: string;
  repository: { url: string };
};
const SOURCE = pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
const suffix = randomBytes(4).toString('hex');

/** Seconds a container may take from SIGTERM to exit: the pod's grace period minus its preStop sleep. */
async function stopBudgetMs(component: string): Promise<number> {
  const d = parse(await readFile(`${ROOT}manifests/${component}/deployment.yaml`, 'utf8')) as {
    spec: {
      template: {
        spec: {
          terminationGracePeriodSeconds: number;
          containers: { lifecycle?: { preStop?: { sleep?: { seconds: number } } } }[];
        };
      };
    };
  };
  const pod = d.spec.template.spec;
  const preStop = pod.containers[0]?.lifecycle?.preStop?.sleep?.seconds ?? 0;
  return (pod.terminationGracePeriodSeconds - preStop) * 1000;
}

function post(port: number, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // The webhook made its own self-signed certificate; the API server would trust its caBundle.
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        rejectUnauthorized: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function reachable(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

t.test(
  'the webhook image serves /mutate over TLS and /healthz, and stops on SIGTERM',
  { skip },
  async (t) => {
    const { webhook } = await images();
    const [webhookPort, httpPort] = [await freePort(), await freePort()];
    const c = await start(webhook, {
      name: `iw-test-webhook-${suffix}`,
      env: { WEBHOOK_PORT: String(webhookPort), HTTP_PORT: String(httpPort), LOG_LEVEL: 'INFO' },
    });
    t.teardown(() => c.remove());
    await until(
      'the webhook to serve /healthz',
      () => reachable(`http://127.0.0.1:${httpPort}/healthz`),
      30_000,
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await c.logs()}`);
    });
    t.ok(await reachable(`http://127.0.0.1:${httpPort}/readyz`), '/readyz answers 200');

    for (const [fixture, allowed] of [
      ['deployment-create.json', true],
      ['deployment-create-invalid.json', false],
    ] as const) {
      const review = await readFile(`${ROOT}test/fixtures/admission/${fixture}`, 'utf8');
      const uid = (JSON.parse(review) as { request: { uid: string } }).request.uid;
      const res = await post(webhookPort, '/mutate', review);
      t.equal(res.status, 200, `${fixture}: 200`);
      const answer = JSON.parse(res.body) as { kind: string; response: { uid: string; allowed: boolean } };
      t.equal(answer.kind, 'AdmissionReview');
      t.equal(answer.response.uid, uid, `${fixture}: the review's uid`);
      t.equal(answer.response.allowed, allowed, `${fixture}: allowed is ${allowed}`);
    }

    const logs = await c.logs();
    t.match(logs, /generated a self-signed certificate/, 'made its own certificate in a read-only root');
    const { code, ms } = await c.terminate();
    t.equal(code, 0, 'exit 0 on SIGTERM', { logs: await c.logs() });
    t.ok(ms < (await stopBudgetMs('webhook')), `stopped in ${ms} ms, within the grace period`);
  },
);

t.test(
  'the watcher image notifies and updates a workload against the fake API server and a real registry',
  { skip },
  async (t) => {
    const { watcher } = await images();
    const registry = await startRegistry();
    t.teardown(() => registry.stop());
    await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1'], buildImage());
    await pushImage(registry.url, 'shop/api', ['2.0.0', '2.1.0'], buildImage());
    const hook = await startServer((_req, res) => res.writeHead(204).end());
    t.teardown(() => hook.close());

    const kube = await fakeKube(t.teardown.bind(t));
    kube.seed(
      deployment('web', `${registry.host}/shop/web:1.0.0`, {
        'image-watcher/mode': 'AUTO_UPDATE',
        'image-watcher/strategy': 'PATCH',
      }),
    );
    kube.seed(deployment('api', `${registry.host}/shop/api:2.0.0`));

    const { c, httpPort, fail } = await startWatcherContainer(t, watcher, {
      name: `iw-test-watcher-${suffix}`,
      kube,
      env: {
        NOTIFY_WEBHOOK_URL: `${hook.origin}/hook`,
        NOTIFY_WEBHOOK_SECRET: 'webhook-secret-0123456789',
        NOTIFY_RETRIES: '0',
      },
    });

    const webImage = (): string | undefined => imageOf(kube.get('Deployment', 'shop', 'web'));
    await until('the update of web', () => webImage() === `${registry.host}/shop/web:1.0.1`, 60_000).catch(
      fail,
    );
    await until(
      'the rollout of web to be recorded',
      () => annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/rollout'] === undefined,
      30_000,
    ).catch(fail);
    await until(
      'the notice of api',
      () => hook.requests.some((r) => r.body.includes('"newVersion":"2.1.0"')),
      30_000,
    ).catch(fail);
    t.equal(
      imageOf(kube.get('Deployment', 'shop', 'api')),
      `${registry.host}/shop/api:2.0.0`,
      'NOTIFICATION leaves api alone',
    );
    t.ok(await reachable(`http://127.0.0.1:${httpPort}/healthz`), '/healthz');
    t.ok(await reachable(`http://127.0.0.1:${httpPort}/readyz`), '/readyz: the API server is reachable');
    t.ok(await c.running(), 'still running');

    const { code, ms } = await c.terminate();
    t.equal(code, 0, 'exit 0 on SIGTERM', { logs: await c.logs() });
    t.ok(ms < (await stopBudgetMs('watcher')), `stopped in ${ms} ms, within the grace period`);
  },
);

t.test(
  'both images go to a registry with skopeo; check --labels reads their OCI labels',
  { skip },
  async (t) => {
    const built = await images();
    const registry = await startRegistry();
    t.teardown(() => registry.stop());
    const revision = (await sh('git', ['rev-parse', 'HEAD']).catch(() => 'unknown')).trim();
    for (const component of ['webhook', 'watcher'] as const) {
      const target = `${registry.host}/image-watcher/${component}:${pkg.version}`;
      const { compressed, layers } = await pushWithSkopeo(built[component], target);
      let out = '';
      let err = '';
      const code = await run(['check', target, '--labels', '--json'], {
        env: {},
        stdout: { write: (s: string) => (out += s) },
        stderr: { write: (s: string) => (err += s) },
        version: pkg.version,
      });
      t.equal(code, 0, err);
      const answer = JSON.parse(out) as { latest: string; labels: Record<string, string> };
      t.equal(answer.latest, pkg.version, `${component}: the tag is the package version`);
      t.match(answer.labels, {
        'org.opencontainers.image.source': SOURCE,
        'org.opencontainers.image.version': pkg.version,
        'org.opencontainers.image.revision': revision,
        'org.opencontainers.image.licenses': 'Apache-2.0',
      });

      const unpacked = await unpackedSize(built[component]);
      const mb = (n: number): string => `${(n / 1e6).toFixed(0)} MB`;
      t.comment(`${component}: ${mb(compressed)} compressed in ${layers} layers, ${mb(unpacked)} unpacked`);
      t.ok(compressed > 0 && compressed < unpacked, 'sizes are measured');
      t.ok(compressed < 50e6, `${component}: under 50 MB compressed (${mb(compressed)})`);
    }
    // The runtime has no shell: node answers what is in the image.
    const inspect = `
      const fs = await import('node:fs');
      const has = (p) => fs.existsSync(p);
      console.log(JSON.stringify({
        uid: process.getuid(),
        bin: fs.readdirSync('/usr/local/bin'),
        npm: has('/usr/local/lib/node_modules') || has('/usr/local/bin/npm'),
        shell: ['/bin/sh', '/usr/bin/sh', '/bin/bash'].some(has),
        apt: has('/usr/bin/apt-get') || has('/usr/bin/dpkg'),
        nodeModules: has('/app/node_modules'),
        caBundle: has('/etc/ssl/certs/ca-certificates.crt'),
      }));`;
    const found = JSON.parse(
      await podman(runOnce(built.watcher, 'node', ['--input-type=module', '-e', inspect])),
    ) as Record<string, unknown>;
    t.same(
      found,
      {
        uid: 10001,
        bin: ['node'],
        npm: false,
        shell: false,
        apt: false,
        nodeModules: false,
        caBundle: true,
      },
      'uid 10001; node only: no npm, no shell, no package manager, no node_modules; CA bundle present',
    );
    const version = await podman(runOnce(built.watcher, 'node', ['dist/watcher/cli/main.js', '--version']));
    t.match(version.trim(), pkg.version, 'the CLI bundle runs in the watcher image');
  },
);

t.test(
  'the watcher configuration loads for uid 10001 without passwd entry and without HOME',
  { skip },
  async (t) => {
    const { watcher } = await images();
    // Like a kubelet, no /etc/passwd entry for the uid (podman adds one by default); podman
    // still sets HOME, which node takes away before anything runs (the image has no `env`).
    const bare = ['--read-only', '--user', '10001:10001', '--passwd=false'];
    const homedir = await podman(
      runOnce(
        watcher,
        'node',
        [
          '-e',
          'delete process.env.HOME; let threw = false; try { require("node:os").homedir(); } catch { threw = true; } console.log(JSON.stringify({ home: process.env.HOME ?? null, threw }))',
        ],
        bare,
      ),
    );
    t.same(JSON.parse(homedir), { home: null, threw: true }, 'no HOME, and homedir() throws');
    // The watcher itself: its settings (DOCKER_CONFIG defaults under HOME) load, and the one
    // error is the missing cluster, named plainly.
    const { code, stderr } = await podmanResult(
      runOnce(
        watcher,
        'node',
        ['--input-type=module', '-e', "delete process.env.HOME; await import('/app/dist/watcher/main.js');"],
        bare,
      ),
    );
    t.equal(code, 1, 'exits 1');
    t.match(stderr, /^image-watcher watcher: E_KUBE_CONFIG: /m, 'the kubeconfig error, not a crash');
  },
);

t.test(
  'the stripped node binary: no debug info or symbol table; profiles, reports and JS stacks intact',
  { skip },
  async (t) => {
    const built = await images();
    // The reader on the test runner's own node first: it has what any dynamically linked
    // executable has.
    const host = await elfSections(process.execPath);
    t.ok(
      ['.text', '.dynsym', '.eh_frame'].every((s) => host.includes(s)),
      'the section reader works',
    );
    const dir = await mkdtemp(join(tmpdir(), 'iw-node-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    for (const component of ['webhook', 'watcher'] as const) {
      const name = `iw-node-${component}-${suffix}`;
      await podman(['create', '--name', name, built[component]]);
      try {
        await podman(['cp', `${name}:/usr/local/bin/node`, join(dir, component)]);
      } finally {
        await podman(['rm', '--force', name]);
      }
      const sections = await elfSections(join(dir, component));
      t.comment(`${component}: node ${((await stat(join(dir, component))).size / 1e6).toFixed(1)} MB`);
      t.same(
        sections.filter((s) => s === '.symtab' || s === '.strtab' || s.startsWith('.debug')),
        [],
        `${component}: no .symtab, .strtab or .debug_* sections`,
      );
      // The dynamic symbols (native addons, process.report's native stack) and the unwind tables
      // (C++ exceptions) stay.
      t.ok(
        ['.dynsym', '.dynstr', '.eh_frame', '.eh_frame_hdr'].every((s) => sections.includes(s)),
        `${component}: dynamic symbols and unwind tables kept`,
      );
    }
    // What stripping could break, run as the cluster runs it: --cpu-prof names JS functions,
    // process.report names native frames, an uncaught error's stack names the function and line.
    const probe = `
      const { execFileSync, spawnSync } = await import('node:child_process');
      const fs = await import('node:fs');
      const dir = fs.mkdtempSync('/tmp/prof-');
      execFileSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir=' + dir, '-e',
        'function busyLoop() { const end = Date.now() + 300; let x = 0; while (Date.now() < end) x++; return x } busyLoop()']);
      const prof = JSON.parse(fs.readFileSync(dir + '/' + fs.readdirSync(dir)[0], 'utf8'));
      const crash = spawnSync(process.execPath, ['-e', 'function thrower() { throw new Error("boom") } thrower()'],
        { encoding: 'utf8' });
      const report = process.report.getReport();
      console.log(JSON.stringify({
        profiled: prof.nodes.some((n) => n.callFrame.functionName === 'busyLoop'),
        crashCode: crash.status,
        crashStack: /at thrower \\(\\[eval\\]:1:\\d+\\)/.test(crash.stderr),
        reportJs: report.javascriptStack.stack.some((l) => l.includes('getReport')),
        reportNative: report.nativeStack.some((f) => f.symbol.startsWith('node::GetNodeReport(')),
      }));`;
    const found = JSON.parse(
      await podman(
        runOnce(
          built.webhook,
          'node',
          ['--input-type=module', '-e', probe],
          ['--read-only', '--tmpfs', '/tmp:rw,size=16m,mode=1777', '--user', '10001:10001'],
        ),
      ),
    ) as Record<string, unknown>;
    t.same(
      found,
      { profiled: true, crashCode: 1, crashStack: true, reportJs: true, reportNative: true },
      'cpu profile, crash stack and diagnostic report work with the stripped binary',
    );
  },
);
