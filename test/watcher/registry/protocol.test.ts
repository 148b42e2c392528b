// Pure helpers of the registry client: challenges, links, retry timing, endpoints, manifests.
import t from 'tap';
import { parseNextLink, parseWwwAuthenticate } from '../../../watcher/registry/challenge.ts';
import { isLoopback, registryBaseUrl } from '../../../watcher/registry/endpoint.ts';
import { labelsFromConfig, parseManifest, pickPlatform } from '../../../watcher/registry/manifest.ts';
import { parseRetryAfter } from '../../../shared/retry-after.ts';
import { retryDelay } from '../../../watcher/registry/http.ts';
import { isRetryableStatus } from '../../../watcher/registry/retry.ts';

t.test('WWW-Authenticate challenges', (t) => {
  const cases = [
    {
      name: 'a Docker Hub bearer challenge',
      input:
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      want: {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/nginx:pull',
        },
      },
    },
    {
      name: 'a scope with commas inside quotes and an error parameter',
      input:
        'Bearer realm="http://a/token", service="svc", scope="repository:app:pull,push", error="insufficient_scope"',
      want: {
        scheme: 'bearer',
        params: {
          realm: 'http://a/token',
          service: 'svc',
          scope: 'repository:app:pull,push',
          error: 'insufficient_scope',
        },
      },
    },
    {
      name: 'basic with a realm, scheme in any case',
      input: 'BASIC realm="Registry Realm"',
      want: { scheme: 'basic', params: { realm: 'Registry Realm' } },
    },
    {
      name: 'unquoted values',
      input: 'Bearer realm=https://r/token,service=svc',
      want: { scheme: 'bearer', params: { realm: 'https://r/token', service: 'svc' } },
    },
    {
      name: 'an escaped quote',
      input: 'Basic realm="say \\"hi\\""',
      want: { scheme: 'basic', params: { realm: 'say "hi"' } },
    },
    {
      name: 'a supported challenge after an unsupported one',
      input: 'Negotiate abc==, Basic realm="r"',
      want: { scheme: 'basic', params: { realm: 'r' } },
    },
    { name: 'only unsupported schemes', input: 'Negotiate abc', want: undefined },
    { name: 'no header', input: null, want: undefined },
  ];
  for (const c of cases) t.same(parseWwwAuthenticate(c.input), c.want, c.name);
  t.end();
});

t.test('Link headers', (t) => {
  const cases = [
    {
      name: 'a relative next link',
      input: '</v2/app/tags/list?last=b&n=2>; rel="next"',
      want: '/v2/app/tags/list?last=b&n=2',
    },
    {
      name: 'next among other relations',
      input: '<https://x/prev>; rel="prev", <https://x/next>; rel=next',
      want: 'https://x/next',
    },
    { name: 'no next relation', input: '<https://x/prev>; rel="prev"', want: undefined },
    { name: 'no header', input: undefined, want: undefined },
  ];
  for (const c of cases) t.equal(parseNextLink(c.input), c.want, c.name);
  t.end();
});

t.test('Retry-After and backoff', (t) => {
  const rule = { initialMs: 100, maxMs: 1000, jitter: 1 };
  const now = Date.parse('2026-03-01T12:00:00Z');
  t.equal(parseRetryAfter('30', now), 30_000, 'seconds');
  t.equal(parseRetryAfter('Sun, 01 Mar 2026 12:00:10 GMT', now), 10_000, 'an HTTP date');
  t.equal(parseRetryAfter('Sun, 01 Mar 2026 11:00:00 GMT', now), 0, 'a date in the past means now');
  t.equal(parseRetryAfter('soon', now), undefined, 'garbage is ignored');
  t.same(
    [0, 1, 2, 3, 4, 10].map((a) => retryDelay(a, { backoff: rule, random: () => 0.5 })),
    [50, 100, 200, 400, 500, 500],
    'half of min(cap, base * 2^attempt)',
  );
  t.equal(retryDelay(3, { backoff: rule, random: () => 0 }), 0, 'full jitter starts at zero');
  t.same([429, 500, 502, 503, 408].map(isRetryableStatus), [true, true, true, true, true]);
  t.same([200, 401, 404, 501].map(isRetryableStatus), [false, false, false, false]);
  t.end();
});

t.test('endpoints: Docker Hub, loopback and insecure registries', (t) => {
  const cases = [
    { name: 'Docker Hub is registry-1.docker.io', input: 'docker.io', want: 'https://registry-1.docker.io' },
    { name: 'index.docker.io too', input: 'index.docker.io', want: 'https://registry-1.docker.io' },
    { name: 'other registries use HTTPS', input: 'ghcr.io', want: 'https://ghcr.io' },
    { name: 'loopback IPv4 uses HTTP', input: '127.0.0.1:5000', want: 'http://127.0.0.1:5000' },
    { name: 'any 127/8 address', input: '127.1.2.3:5000', want: 'http://127.1.2.3:5000' },
    { name: 'localhost', input: 'localhost:5000', want: 'http://localhost:5000' },
    { name: 'IPv6 loopback', input: '[::1]:5000', want: 'http://[::1]:5000' },
    { name: 'an INSECURE_REGISTRIES entry', input: 'registry.lan:5000', want: 'http://registry.lan:5000' },
    {
      name: 'the same host on another port is not insecure',
      input: 'registry.lan:5001',
      want: 'https://registry.lan:5001',
    },
  ];
  for (const c of cases) t.equal(registryBaseUrl(c.input, ['registry.lan:5000']), c.want, c.name);
  t.notOk(isLoopback('128.0.0.1'));
  t.notOk(isLoopback('localhost.example.com'));
  t.end();
});

t.test('manifests, indexes and image configs', (t) => {
  const index = parseManifest(
    {
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { digest: 'sha256:arm', platform: { os: 'linux', architecture: 'arm64' } },
        { digest: 'sha256:amd', platform: { os: 'linux', architecture: 'amd64' } },
        { platform: {} },
      ],
    },
    undefined,
  );
  t.equal(index?.kind, 'index');
  if (index?.kind === 'index') {
    t.equal(index.manifests.length, 2, 'entries without a digest are ignored');
    t.equal(pickPlatform(index.manifests), 'sha256:amd', 'linux/amd64 preferred');
    t.equal(pickPlatform(index.manifests.slice(0, 1)), 'sha256:arm', 'else the first');
  }
  t.same(
    parseManifest(
      { schemaVersion: 2, config: { digest: 'sha256:c' } },
      'application/vnd.docker.distribution.manifest.v2+json',
    ),
    {
      kind: 'image',
      configDigest: 'sha256:c',
    },
  );
  t.same(
    parseManifest(
      { manifests: [] },
      'application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8',
    ),
    {
      kind: 'index',
      manifests: [],
    },
  );
  t.equal(parseManifest('nope', undefined), undefined);
  t.same(labelsFromConfig({ config: { Labels: { a: '1', b: 2 } } }), { a: '1' }, 'string labels only');
  t.same(labelsFromConfig({ config: { Labels: null } }), {});
  t.end();
});
