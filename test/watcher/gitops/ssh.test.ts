// The Git write-back over SSH: Debian's sshd on a loopback port (test/support/sshd.ts) with a
// generated host key pinned in known_hosts (StrictHostKeyChecking=yes) and an authorized key.
import t from 'tap';
import pino from 'pino';
import { GitCli } from '../../../watcher/gitops/git.ts';
import type { GitCredentials } from '../../../watcher/gitops/git.ts';
import type { WriteBackRequest } from '../../../watcher/gitops/writeback.ts';
import { GitWriteBack } from '../../../watcher/gitops/writeback.ts';
import { editFiles } from '../../../watcher/gitops/edit/index.ts';
import { startGitServer } from '../../support/git-server.ts';
import type { GitServer } from '../../support/git-server.ts';
import { startSshd } from '../../support/sshd.ts';
import type { RunningSshd } from '../../support/sshd.ts';

let sshd: RunningSshd;
let srv: GitServer;
t.before(async () => {
  sshd = await startSshd();
  srv = await startGitServer();
});
t.teardown(async () => {
  await srv.close();
  await sshd.stop();
});

const manifest = (tag: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.local/shop/web:${tag} # keep\n`;

function request(repo: string): WriteBackRequest {
  return {
    kind: 'update',
    workload: { kind: 'Deployment', namespace: 'shop', name: 'web' },
    target: { repo, branch: undefined, path: '.', push: 'direct', secret: 'git-ssh' },
    changes: [
      {
        container: 'app',
        image: 'registry.local/shop/web:1.0.0',
        currentVersion: '1.0.0',
        newVersion: '1.1.0',
        change: 'minor',
      },
    ],
  };
}

function writer(creds: GitCredentials) {
  return new GitWriteBack({
    git: new GitCli({ insecureHosts: ['127.0.0.1'], timeoutMs: 30_000 }),
    edit: editFiles,
    credentials: () => Promise.resolve(creds),
    identity: { name: 'Image Watcher', email: 'iw@example.com' },
    commitPerWorkload: false,
    logger: pino({ level: 'silent' }),
    windowMs: 0,
  });
}

t.test('pushed over SSH with the pinned host key and the Secret identity', async (t) => {
  await srv.createRepo('ssh-ok', { 'web.yaml': manifest('1.0.0') });
  const r = await writer({ identity: sshd.identity, knownHosts: sshd.knownHosts }).submit(
    request(sshd.url(srv.path('ssh-ok'))),
  );
  t.equal(r.result, 'pushed');
  t.equal(
    await srv.show('ssh-ok', 'main', 'web.yaml'),
    manifest('1.1.0'),
    'the real editor changed only the tag',
  );
  t.same(await srv.log('ssh-ok', 'main'), ['Update shop/web app 1.0.0 -> 1.1.0', 'Initial manifests']);
});

t.test('an unknown host key is refused: known_hosts is pinned, never trusted on first use', async (t) => {
  await srv.createRepo('ssh-mitm', { 'web.yaml': manifest('1.0.0') });
  const r = await writer({ identity: sshd.identity, knownHosts: sshd.wrongKnownHosts }).submit(
    request(sshd.url(srv.path('ssh-mitm'))),
  );
  t.equal(r.result === 'failed' && r.code, 'E_GIT_AUTH');
  t.match(r.result === 'failed' ? r.reason : '', /host key/i);
  t.same(await srv.log('ssh-mitm', 'main'), ['Initial manifests']);

  const none = await writer({ identity: sshd.identity }).submit(request(sshd.url(srv.path('ssh-mitm'))));
  t.equal(none.result === 'failed' && none.code, 'E_GIT_CREDENTIALS');
  t.match(none.result === 'failed' ? none.reason : '', /known_hosts/);
});

t.test('a key that is not authorized is refused, and the key is in no message', async (t) => {
  await srv.createRepo('ssh-denied', { 'web.yaml': manifest('1.0.0') });
  const r = await writer({ identity: sshd.otherIdentity, knownHosts: sshd.knownHosts }).submit(
    request(sshd.url(srv.path('ssh-denied'))),
  );
  t.equal(r.result === 'failed' && r.code, 'E_GIT_AUTH');
  t.notMatch(r.result === 'failed' ? r.reason : '', /PRIVATE KEY/);
  t.same(await srv.log('ssh-denied', 'main'), ['Initial manifests']);
});
