// The git CLI client without a shell: what it does when git or ssh is not installed (the default
// watcher image has neither), and what it hands git instead of an askpass script or an ssh command
// line (the -git image has no /bin/sh to run them).
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { curlResolveEntry, GitCli, GitError, pinsResolve } from '../../../watcher/gitops/git.ts';
import { GitWriteBack } from '../../../watcher/gitops/writeback.ts';
import { editFiles } from '../../../watcher/gitops/edit/index.ts';
import { GIT_BIN, startGitServer } from '../../support/git-server.ts';
import type { GitServer } from '../../support/git-server.ts';
import { findProgram } from '../../support/programs.ts';

let srv: GitServer;
let dir: string;
const AUTH = { username: 'bot', password: 'extra-header-password-7' };
t.before(async () => {
  srv = await startGitServer({ auth: AUTH });
  dir = await mkdtemp(join(tmpdir(), 'iw-git-cli-'));
});
t.teardown(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

/** A PATH folder holding only `programs` (symlinks to the real ones). */
async function pathWith(name: string, programs: Record<string, string>): Promise<string> {
  const bin = join(dir, name);
  await mkdir(bin);
  for (const [p, target] of Object.entries(programs)) await symlink(target, join(bin, p));
  return bin;
}

t.test('no git on PATH: E_GIT_UNAVAILABLE naming the -git image, not a spawn ENOENT', async (t) => {
  const empty = await pathWith('empty', {});
  const err = await new GitCli({ insecureHosts: ['127.0.0.1'], path: empty })
    .open({ url: srv.url('none') })
    .catch((e: unknown) => e);
  t.ok(err instanceof GitError);
  t.match(err, { code: 'E_GIT_UNAVAILABLE', message: /^git is not installed in this watcher image/ });
  t.match((err as Error).message, /-git/);
  t.notMatch((err as Error).message, /ENOENT/);

  // Through the write-back: a failed result with the code, as the controller puts it in the
  // notice, the API (lastError) and the log.
  await srv.createRepo('unavailable', { 'web.yaml': 'image: registry.local/shop/web:1.0.0\n' });
  const wb = new GitWriteBack({
    git: new GitCli({ insecureHosts: ['127.0.0.1'], path: empty }),
    edit: editFiles,
    credentials: () => Promise.resolve(undefined),
    identity: { name: 'Image Watcher', email: 'iw@example.com' },
    commitPerWorkload: false,
    logger: pino({ level: 'silent' }),
    windowMs: 0,
  });
  const r = await wb.submit({
    kind: 'update',
    workload: { kind: 'Deployment', namespace: 'shop', name: 'web' },
    target: { repo: srv.url('unavailable'), branch: undefined, path: '.', push: 'direct', secret: undefined },
    changes: [
      {
        container: 'app',
        image: 'registry.local/shop/web:1.0.0',
        currentVersion: '1.0.0',
        newVersion: '1.0.1',
        change: 'patch',
      },
    ],
  });
  t.match(r, { result: 'failed', code: 'E_GIT_UNAVAILABLE', reason: /watcher image tagged <version>-git/ });
  t.same(await srv.log('unavailable', 'main'), ['Initial manifests'], 'nothing was written');
});

t.test('git without ssh: an ssh repository is E_GIT_UNAVAILABLE for ssh', async (t) => {
  const gitOnly = await pathWith('git-only', { git: GIT_BIN });
  const err = await new GitCli({ insecureHosts: ['127.0.0.1'], path: gitOnly })
    .open({
      url: 'ssh://git@127.0.0.1:22/srv/deploy.git',
      credentials: { identity: 'not used', knownHosts: '[127.0.0.1]:22 ssh-ed25519 AAAA\n' },
    })
    .catch((e: unknown) => e);
  t.match(err, { code: 'E_GIT_UNAVAILABLE', message: /^ssh is not installed in this watcher image/ });
});

t.test('HTTPS credentials go as a header through GIT_CONFIG_*, not through an askpass program', async (t) => {
  // git with a PATH holding git alone: no sh, no askpass script could run, and none is asked for.
  const gitOnly = await pathWith('git-https', { git: GIT_BIN });
  await srv.createRepo('header', { 'web.yaml': 'image: registry.local/shop/web:1.0.0\n' });
  const cli = new GitCli({ insecureHosts: ['127.0.0.1'], path: gitOnly, tempDir: dir });
  const ws = await cli.open({ url: srv.url('header'), credentials: AUTH });
  t.teardown(() => ws.close());
  t.equal(ws.branch, 'main');
  t.same([...(await ws.readFiles('.')).keys()], ['web.yaml']);
  t.ok(
    srv.requests.some((r) => r.user === 'bot' && r.status === 200),
    'the server saw the user from the Authorization header',
  );
  const wrong = await cli
    .open({ url: srv.url('header'), credentials: { ...AUTH, password: 'not-it-3' } })
    .catch((e: unknown) => e);
  t.match(wrong, { code: 'E_GIT_AUTH' });
  t.notMatch((wrong as Error).message, /not-it-3|Basic /, 'the password and header are in no message');
});

t.test(
  'over SSH git runs the node wrapper, which runs ssh; the temp directory goes after a failure',
  async (t) => {
    // Nothing listens on port 1: the failure is ssh's own (git ran the wrapper, the wrapper ran ssh).
    const ssh = findProgram('ssh');
    const bin = await pathWith('git-ssh', { git: GIT_BIN, ssh });
    const tempDir = await mkdtemp(join(dir, 'ssh-temp-'));
    const err = await new GitCli({ insecureHosts: ['127.0.0.1'], path: bin, tempDir, timeoutMs: 30_000 })
      .open({
        url: 'ssh://git@127.0.0.1:1/srv/deploy.git',
        credentials: { identity: 'not a key', knownHosts: '[127.0.0.1]:1 ssh-ed25519 AAAA\n' },
      })
      .catch((e: unknown) => e);
    t.match(err, {
      code: 'E_GIT_FAILED',
      message: /connect to host 127\.0\.0\.1 port 1|Connection refused/i,
    });
    t.notMatch((err as Error).message, /not a key/);
    t.same(await readdir(tempDir), [], 'the temp directory (keys, wrapper) is removed after a failure');
  },
);

t.test('git connects to the checked address (http.curloptResolve), the host name asked once', async (t) => {
  await srv.createRepo('pinned', { 'web.yaml': 'image: registry.local/shop/web:1.0.0\n' });
  const port = new URL(srv.base).port;
  // git.test is in no DNS: clone, ls-remote and push reach the server only through the pin.
  const calls: string[] = [];
  const resolve = (host: string) => {
    calls.push(host);
    return Promise.resolve(host === 'git.test' ? [{ address: '127.0.0.1', family: 4 }] : []);
  };
  const cli = new GitCli({ insecureHosts: ['git.test'], resolve, tempDir: dir, timeoutMs: 30_000 });
  const ws = await cli.open({ url: `http://git.test:${port}/pinned.git`, credentials: AUTH });
  t.teardown(() => ws.close());
  await ws.writeFile('web.yaml', 'image: registry.local/shop/web:1.0.1\n');
  t.ok(await ws.commit('pinned', { name: 'Image Watcher', email: 'iw@example.com' }));
  t.equal(await ws.push('main'), 'pushed');
  t.equal(await ws.remoteHas('main'), true);
  t.equal(await srv.show('pinned', 'main', 'web.yaml'), 'image: registry.local/shop/web:1.0.1\n');
  t.same(calls, ['git.test'], 'resolved once, by the guard; git never looks the name up');
});

t.test('the pin entry: host, port and the checked address; none for ssh and IP literals', (t) => {
  const v4 = { address: '140.82.112.3', family: 4 };
  const v6 = { address: '2606:50c0:8000::154', family: 6 };
  const rows: [string, { address: string; family: number }, string | undefined][] = [
    ['https://github.com/org/deploy.git', v4, 'github.com:443:140.82.112.3'],
    ['https://GitHub.com:8443/org/deploy.git', v4, 'github.com:8443:140.82.112.3'],
    ['http://git.internal/deploy.git', v4, 'git.internal:80:140.82.112.3'],
    ['https://github.com/org/deploy.git', v6, 'github.com:443:[2606:50c0:8000::154]'],
    ['https://140.82.112.3/org/deploy.git', v4, undefined],
    ['git@github.com:org/deploy.git', v4, undefined],
    ['ssh://git@github.com/org/deploy.git', v4, undefined],
  ];
  for (const [url, address, want] of rows) t.equal(curlResolveEntry(url, address), want, url);
  t.equal(pinsResolve('git version 2.39.5'), true);
  t.equal(pinsResolve('git version 2.37.0'), true);
  t.equal(pinsResolve('git version 3.0.0'), true);
  t.equal(pinsResolve('git version 2.36.6'), false, 'would ignore http.curloptResolve');
  t.equal(pinsResolve('something else'), false);
  t.end();
});

t.test('the probe: E_GIT_UNAVAILABLE naming the -git image without git, the version with it', async (t) => {
  const none = await new GitCli({ path: await pathWith('probe-empty', {}) }).probe();
  t.match(none, { ok: false, error: { code: 'E_GIT_UNAVAILABLE', message: /tagged <version>-git/ } });
  const found = await new GitCli({ path: await pathWith('probe-git', { git: GIT_BIN }) }).probe();
  t.match(found, { ok: true, version: /^git version \d/ });
});

t.test('the write-back probes git once, and warns once naming the -git image', async (t) => {
  const lines: { level: number; msg: string; code?: string; reason?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const real = new GitCli({ path: await pathWith('probe-once', {}) });
  let probes = 0;
  const wb = new GitWriteBack({
    git: {
      probe: () => {
        probes++;
        return real.probe();
      },
      open: (o) => real.open(o),
    },
    edit: editFiles,
    credentials: () => Promise.resolve(undefined),
    identity: { name: 'Image Watcher', email: 'iw@example.com' },
    commitPerWorkload: false,
    logger,
    windowMs: 0,
  });
  const results = await Promise.all([wb.probe(), wb.probe(), wb.probe()]);
  t.equal(probes, 1, 'one look for git');
  t.ok(results.every((r) => !r.ok));
  const warns = lines.filter((l) => l.level === 40);
  t.equal(warns.length, 1, 'one WARN');
  t.match(warns[0], {
    code: 'E_GIT_UNAVAILABLE',
    msg: /git is missing.*image tagged <version>-git/,
    reason: /ghcr\.io\/image-watcher\/watcher:<version>-git/,
  });

  // A client that cannot even look: a WARN too, and the probe still resolves.
  lines.splice(0);
  const broken = new GitWriteBack({
    git: { probe: () => Promise.reject(new Error('EACCES')), open: (o) => real.open(o) },
    edit: editFiles,
    credentials: () => Promise.resolve(undefined),
    identity: { name: 'Image Watcher', email: 'iw@example.com' },
    commitPerWorkload: false,
    logger,
    windowMs: 0,
  });
  t.match(await broken.probe(), { ok: false, error: { code: 'E_GIT_UNAVAILABLE' } });
  t.equal(lines.filter((l) => l.level === 40).length, 1);
});
