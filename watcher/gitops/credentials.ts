// The Git Secret's keys: `username`/`password` or `token` for HTTPS, `identity` and `known_hosts`
// for SSH. Only the keys are named in messages, never the values.
import type { GitCredentials } from './git.ts';
import { GitError } from './git.ts';

export function gitCredentialsOf(data: Readonly<Record<string, string>>, label: string): GitCredentials {
  const pick = (k: string) => (data[k] !== undefined && data[k] !== '' ? data[k] : undefined);
  const c: GitCredentials = {
    username: pick('username'),
    password: pick('password'),
    token: pick('token'),
    identity: pick('identity'),
    knownHosts: pick('known_hosts'),
  };
  if (!c.password && !c.token && !c.identity) {
    throw new GitError(
      'E_GIT_CREDENTIALS',
      `Secret ${label} has none of the keys password, token or identity (keys: ${Object.keys(data).sort().join(', ') || 'none'})`,
    );
  }
  return c;
}
