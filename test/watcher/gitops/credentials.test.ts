import t from 'tap';
import { gitCredentialsOf } from '../../../watcher/gitops/credentials.ts';
import { GitError } from '../../../watcher/gitops/git.ts';
import { commitUrl } from '../../../watcher/gitops/urls.ts';

t.test('the Git Secret keys', (t) => {
  t.same(gitCredentialsOf({ username: 'bot', password: 'p' }, 'shop/git'), {
    username: 'bot',
    password: 'p',
    token: undefined,
    identity: undefined,
    knownHosts: undefined,
  });
  t.match(gitCredentialsOf({ identity: 'KEY', known_hosts: 'host ssh-ed25519 AAAA' }, 'shop/git'), {
    identity: 'KEY',
    knownHosts: 'host ssh-ed25519 AAAA',
  });
  t.match(gitCredentialsOf({ token: 'tok', username: '' }, 'shop/git'), {
    token: 'tok',
    username: undefined,
  });
  t.throws(() => gitCredentialsOf({ user: 'bot', pass: 'secret-value' }, 'shop/git'), {
    code: 'E_GIT_CREDENTIALS',
    message: /shop\/git has none of the keys password, token or identity \(keys: pass, user\)/,
  });
  try {
    gitCredentialsOf({ pass: 'secret-value' }, 'shop/git');
  } catch (err) {
    t.ok(err instanceof GitError);
    t.notMatch((err as Error).message, /secret-value/, 'values are never named');
  }
  t.end();
});

t.test('commit links on GitHub and GitLab', (t) => {
  t.equal(commitUrl('https://github.com/o/d.git', 'abc'), 'https://github.com/o/d/commit/abc');
  t.equal(commitUrl('git@github.com:o/d.git', 'abc'), 'https://github.com/o/d/commit/abc');
  t.equal(commitUrl('https://gitlab.com/g/s/d.git', 'abc'), 'https://gitlab.com/g/s/d/-/commit/abc');
  t.equal(commitUrl('https://git.example.com/o/d.git', 'abc'), undefined);
  t.equal(commitUrl('not a url', 'abc'), undefined);
  t.end();
});
