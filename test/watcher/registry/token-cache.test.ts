import t from 'tap';
import { Authenticator, MAX_CACHED_TOKENS } from '../../../watcher/registry/auth.ts';
import type { AuthContext } from '../../../watcher/registry/auth.ts';
import type { AuthChallenge } from '../../../watcher/registry/challenge.ts';
import type { HttpRequest, RegistryHttp } from '../../../watcher/registry/http.ts';

const challenge: AuthChallenge = {
  scheme: 'bearer',
  params: { realm: 'https://auth.example.com/token', service: 'registry.example.com' },
};

function ctx(i: number): AuthContext {
  return {
    registry: 'registry.example.com',
    repository: `org/app${i}`,
    scope: `repository:org/app${i}:pull`,
    credentials: undefined,
  };
}

t.test('the bearer token cache stays bounded however many repositories are asked for', async (t) => {
  let now = 1_000_000;
  let fetched = 0;
  const http = {
    send: (req: HttpRequest) => {
      fetched++;
      const scope = new URL(req.url).searchParams.get('scope');
      return Promise.resolve({
        status: 200,
        headers: new Headers(),
        body: Buffer.from(JSON.stringify({ token: `tok ${scope}`, expires_in: 300 })),
        url: req.url,
      });
    },
  } as unknown as RegistryHttp;
  const auth = new Authenticator({ http, now: () => now });

  for (let i = 0; i < MAX_CACHED_TOKENS; i++) await auth.headerFor(ctx(i), challenge);
  t.equal(auth.cachedHeader(ctx(0)), 'Bearer tok repository:org/app0:pull', 'cached while there is room');

  // All of them expired: the next token sweeps them out rather than piling up.
  now += 400_000;
  await auth.headerFor(ctx(MAX_CACHED_TOKENS), challenge);
  now -= 400_000; // even back within their lifetime, the expired entries are gone
  t.equal(auth.cachedHeader(ctx(1)), undefined, 'expired tokens dropped once the cache is full');
  t.equal(
    auth.cachedHeader(ctx(MAX_CACHED_TOKENS)),
    `Bearer tok repository:org/app${MAX_CACHED_TOKENS}:pull`,
  );

  // Unexpired tokens beyond the cap: the oldest go first.
  for (let i = 0; i < MAX_CACHED_TOKENS + 10; i++) await auth.headerFor(ctx(10_000 + i), challenge);
  t.equal(auth.cachedHeader(ctx(10_000)), undefined, 'oldest evicted');
  t.ok(auth.cachedHeader(ctx(10_000 + MAX_CACHED_TOKENS + 9)), 'newest kept');
  t.ok(fetched > 2 * MAX_CACHED_TOKENS);
});
