// No git in the image (the default watcher image has none): createWatcher looks for it once through
// its GitClient, at start when GIT_REPO is set, else when the first workload with `write-back: git`
// is seen, and logs one WARN naming the -git image; each Git write-back still fails alone with
// E_GIT_UNAVAILABLE. The client is the real git CLI client, given a PATH without git; the API
// server is the fake one, the registry the real docker-registry.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import type { GitClient } from '../../../watcher/gitops/git.ts';
import { GitCli } from '../../../watcher/gitops/git.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import { deployment, fakeKube, startWatcher, until } from './support.ts';

let registry: RunningRegistry;
let empty: string;
t.before(async () => {
  registry = await startRegistry();
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1'], buildImage());
  empty = await mkdtemp(join(tmpdir(), 'iw-no-git-'));
});
t.teardown(async () => {
  await registry.stop();
  await rm(empty, { recursive: true, force: true });
});

interface Line {
  level: number;
  msg: string;
  code?: string;
  reason?: string;
}

/** The real client without git, counting its probes; a logger keeping the JSON lines. */
function noGit() {
  const cli = new GitCli({ insecureHosts: ['127.0.0.1'], path: empty });
  const seen = { probes: 0 };
  const git: GitClient = {
    probe: () => {
      seen.probes++;
      return cli.probe();
    },
    open: (o) => cli.open(o),
  };
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const warnings = () => lines.filter((l) => l.level === 40 && /git is missing/.test(l.msg));
  return { git, seen, logger, warnings };
}

const gitWorkload = (name: string) =>
  deployment(name, `${registry.host}/shop/web:1.0.0`, {
    'image-watcher/mode': 'AUTO_UPDATE',
    'image-watcher/strategy': 'PATCH',
    'image-watcher/write-back': 'git',
    'image-watcher/git-repo': 'http://127.0.0.1:9/deploy.git',
  });

t.test('GIT_REPO set: one WARN at start naming the -git image, before any workload', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  const { git, seen, logger, warnings } = noGit();
  await startWatcher(t.teardown.bind(t), kube, {
    env: { GIT_REPO: 'https://git.example.com/org/deploy.git' },
    io: { git, logger },
  });
  await until('the start-up warning', () => warnings().length > 0);
  t.equal(seen.probes, 1);
  t.match(warnings(), [
    {
      code: 'E_GIT_UNAVAILABLE',
      msg: /image tagged <version>-git/,
      reason: /ghcr\.io\/image-watcher\/watcher:<version>-git/,
    },
  ]);
});

t.test(
  'the first write-back: git workload: one WARN for two workloads, each write still fails',
  async (t) => {
    const kube = await fakeKube(t.teardown.bind(t));
    kube.seed(gitWorkload('web'));
    kube.seed(gitWorkload('shop'));
    const { git, seen, logger, warnings } = noGit();
    const w = await startWatcher(t.teardown.bind(t), kube, {
      env: { GIT_INSECURE_HOSTS: '127.0.0.1' },
      io: { git, logger, gitWindowMs: 10 },
    });
    await w.controller.runCycle();
    await w.controller.idle();
    await until('the warning', () => warnings().length > 0);
    t.equal(seen.probes, 1, 'probed once');
    t.equal(warnings().length, 1, 'one WARN');
    const errors = w.controller.workloads().map((x) => x.lastError);
    t.equal(errors.length, 2);
    for (const e of errors) t.match(e, /^E_GIT_UNAVAILABLE: git is not installed .*<version>-git/);
  },
);

t.test('no Git write-back configured or seen: no probe', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(
    deployment('web', `${registry.host}/shop/web:1.0.0`, {
      'image-watcher/mode': 'NOTIFICATION',
      'image-watcher/strategy': 'PATCH',
    }),
  );
  const { git, seen, logger } = noGit();
  const w = await startWatcher(t.teardown.bind(t), kube, { io: { git, logger } });
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(seen.probes, 0);
});
