// Registry misbehaviour the real registry cannot produce, served by a small local HTTP server.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import { OciRegistryClient } from '../../../watcher/registry/client.ts';
import type { RegistryClientOptions } from '../../../watcher/registry/client.ts';
import { RegistryError } from '../../../watcher/registry/errors.ts';
import type { RegistryRequestObserver } from '../../../watcher/registry/types.ts';
import { freePort } from '../../support/registry.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function fakeRegistry(t: Test, handler: Handler): Promise<{ host: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Fast client: sleeps are recorded, not waited. */
function testClient(extra: RegistryClientOptions = {}): { client: OciRegistryClient; sleeps: number[] } {
  const sleeps: number[] = [];
  const client = new OciRegistryClient({
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
    ...extra,
  });
  return { client, sleeps };
}

t.test('429 with Retry-After in seconds is honoured, then the answer is used', async (t) => {
  let calls = 0;
  const reg = await fakeRegistry(t, (_req, res) => {
    if (++calls < 3) return json(res, 429, { errors: [{ code: 'TOOMANYREQUESTS' }] }, { 'retry-after': '2' });
    json(res, 200, { name: 'app', tags: ['1.0.0'] });
  });
  const { client, sleeps } = testClient();
  t.same(await client.listTags(parseImageReference(`${reg.host}/app:1.0.0`)), ['1.0.0']);
  t.same(sleeps, [2000, 2000], 'waited what the registry asked, twice');
});

t.test('429 with an HTTP-date Retry-After waits until that date', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  let calls = 0;
  const reg = await fakeRegistry(t, (_req, res) => {
    if (++calls === 1) return json(res, 429, {}, { 'retry-after': new Date(now + 7000).toUTCString() });
    json(res, 200, { name: 'app', tags: ['1.0.0'] });
  });
  const { client, sleeps } = testClient({ now: () => now });
  await client.listTags(parseImageReference(`${reg.host}/app:1.0.0`));
  t.same(sleeps, [7000]);
});

t.test('a Retry-After longer than the cap fails at once instead of hammering', async (t) => {
  const reg = await fakeRegistry(t, (_req, res) => json(res, 429, {}, { 'retry-after': '3600' }));
  const { client, sleeps } = testClient();
  const err = await client.listTags(parseImageReference(`${reg.host}/app:1.0.0`)).catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_UNAVAILABLE', status: 429, message: /rate limiting/ });
  t.equal(reg.hits.length, 1);
  t.same(sleeps, []);
});

t.test('500 is retried with capped exponential backoff and full jitter, then reported', async (t) => {
  const reg = await fakeRegistry(t, (_req, res) => json(res, 500, {}));
  const { client, sleeps } = testClient({
    maxAttempts: 5,
    backoffBaseMs: 100,
    backoffCapMs: 500,
    random: () => 0.999,
  });
  const err = await client.listTags(parseImageReference(`${reg.host}/app:1.0.0`)).catch((e: unknown) => e);
  t.ok(err instanceof RegistryError);
  t.match(err, {
    code: 'E_REGISTRY_UNAVAILABLE',
    status: 500,
    message: `registry ${reg.host} failed to answer the tag list of app (HTTP 500)`,
  });
  t.equal(reg.hits.length, 5, 'maxAttempts requests');
  t.same(sleeps, [100, 200, 400, 500], 'about random * min(cap, base * 2^n), rounded (the one backoff rule)');
});

t.test('a 503 that recovers is invisible to the caller', async (t) => {
  let calls = 0;
  const reg = await fakeRegistry(t, (_req, res) =>
    ++calls === 1 ? json(res, 503, {}) : json(res, 200, { tags: ['2.0.0'] }),
  );
  const { client } = testClient();
  t.same(await client.listTags(parseImageReference(`${reg.host}/app:2.0.0`)), ['2.0.0']);
});

t.test('garbage JSON in the tag list is a response error', async (t) => {
  const reg = await fakeRegistry(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"tags": [1, 2, <html>');
  });
  const { client } = testClient();
  const err = await client.listTags(parseImageReference(`${reg.host}/app:1`)).catch((e: unknown) => e);
  t.match(err, {
    code: 'E_REGISTRY_RESPONSE',
    message: `registry ${reg.host} answered with invalid JSON for the tag list of app`,
  });
  t.equal(reg.hits.length, 1, 'not retried');
});

t.test('a hanging socket times out on every attempt and reports a timeout', async (t) => {
  const reg = await fakeRegistry(t, () => {
    // never answer
  });
  const observed: string[] = [];
  const observer: RegistryRequestObserver = { observeRegistryRequest: (e) => observed.push(e.code) };
  const { client } = testClient({ timeoutMs: 150, maxAttempts: 2, observer });
  const started = Date.now();
  const err = await client.getDigest(parseImageReference(`${reg.host}/app:1`), '1').catch((e: unknown) => e);
  t.match(err, {
    code: 'E_REGISTRY_TIMEOUT',
    message: `registry ${reg.host} did not answer the manifest app:1 within 150 ms (2 attempts)`,
  });
  t.ok(Date.now() - started < 3000, 'bounded by the timeout');
  t.same(observed, ['timeout', 'timeout']);
});

t.test('a body that stalls halfway also times out', async (t) => {
  const reg = await fakeRegistry(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"name":"app","tags":["1.0.0",');
  });
  const { client } = testClient({ timeoutMs: 150, maxAttempts: 1 });
  const err = await client.listTags(parseImageReference(`${reg.host}/app:1`)).catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_TIMEOUT' });
});

t.test('a refused connection is retried then reported as unavailable', async (t) => {
  const port = await freePort();
  const { client, sleeps } = testClient({ maxAttempts: 2 });
  const err = await client.listTags(parseImageReference(`127.0.0.1:${port}/app:1`)).catch((e: unknown) => e);
  t.match(err, {
    code: 'E_REGISTRY_UNAVAILABLE',
    message: `cannot reach registry 127.0.0.1:${port} for the tag list of app: ECONNREFUSED (2 attempts)`,
  });
  t.equal(sleeps.length, 1, 'one backoff between the two attempts');
});

t.test('a huge tag list (50,000 tags) is read in one go', async (t) => {
  const tags = Array.from({ length: 50_000 }, (_, i) => `1.${Math.floor(i / 100)}.${i % 100}`);
  const reg = await fakeRegistry(t, (_req, res) => json(res, 200, { name: 'big', tags }));
  const { client } = testClient();
  const started = performance.now();
  const got = await client.listTags(parseImageReference(`${reg.host}/big:1.0.0`));
  const ms = performance.now() - started;
  t.equal(got.length, 50_000);
  t.equal(got[49_999], '1.499.99');
  t.comment(`50,000 tags listed in ${ms.toFixed(0)} ms`);
});

t.test('a tag list bigger than the byte cap is refused', async (t) => {
  const tags = Array.from({ length: 5000 }, (_, i) => `tag-${i}`);
  const reg = await fakeRegistry(t, (_req, res) => json(res, 200, { tags }));
  const { client } = testClient({ maxTagPageBytes: 10_000 });
  const err = await client.listTags(parseImageReference(`${reg.host}/big:1`)).catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /more than 10000 bytes for the tag list of big/ });
});

t.test('endless pagination stops at the page cap', async (t) => {
  let page = 0;
  const reg = await fakeRegistry(t, (_req, res) => {
    page++;
    json(res, 200, { tags: [`t${page}`] }, { link: `</v2/app/tags/list?n=1&last=t${page}>; rel="next"` });
  });
  const { client } = testClient({ maxPages: 5 });
  const err = await client.listTags(parseImageReference(`${reg.host}/app:1`)).catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /more than 5 pages/ });
  t.equal(reg.hits.length, 5);
});

t.test('a repository listing more tags than the cap is refused, whatever the pages', async (t) => {
  let page = 0;
  const reg = await fakeRegistry(t, (_req, res) => {
    page++;
    const tags = Array.from({ length: 40 }, (_, i) => `p${page}-${i}`);
    json(res, 200, { tags }, { link: `</v2/app/tags/list?n=40&last=p${page}>; rel="next"` });
  });
  const { client } = testClient({ maxTags: 100 });
  const err = await client.listTags(parseImageReference(`${reg.host}/app:1`)).catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /more than 100 tags for app/ });
  t.equal(reg.hits.length, 3, 'stops at the page that crosses the cap');
});

t.test('a pagination link to another host is not followed', async (t) => {
  const reg = await fakeRegistry(t, (_req, res) =>
    json(res, 200, { tags: ['a'] }, { link: '<http://evil.example/v2/app/tags/list?last=a>; rel="next"' }),
  );
  const { client } = testClient();
  const err = await client.listTags(parseImageReference(`${reg.host}/app:1`)).catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /another host/ });
});

t.test('without Docker-Content-Digest on HEAD the digest is the sha256 of a GET', async (t) => {
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
  });
  const reg = await fakeRegistry(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    res.end(req.method === 'HEAD' ? undefined : manifest);
  });
  const { client } = testClient();
  const digest = await client.getDigest(parseImageReference(`${reg.host}/app:1`), '1');
  const { createHash } = await import('node:crypto');
  t.equal(digest, `sha256:${createHash('sha256').update(manifest).digest('hex')}`);
  t.same(reg.hits, ['HEAD /v2/app/manifests/1', 'GET /v2/app/manifests/1']);
});

t.test('a 401 without a usable challenge is an auth error', async (t) => {
  const reg = await fakeRegistry(t, (_req, res) =>
    json(res, 401, {}, { 'www-authenticate': 'Negotiate abc' }),
  );
  const { client } = testClient();
  const err = await client.listTags(parseImageReference(`${reg.host}/app:1`)).catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_AUTH', message: /without a Basic or Bearer challenge/ });
});

t.test('secrets never appear in errors, even when the token service fails', async (t) => {
  const secret = 'Sup3r-Secret-Value';
  const reg = await fakeRegistry(t, (req, res) => {
    if (req.url?.startsWith('/token')) return json(res, 500, { echo: req.headers.authorization });
    json(
      res,
      401,
      {},
      {
        'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="svc",scope="repository:app:pull"`,
      },
    );
  });
  const { client } = testClient({ maxAttempts: 1 });
  const err = await client
    .listTags(parseImageReference(`${reg.host}/app:1`), { credentials: { username: 'u', password: secret } })
    .catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_UNAVAILABLE', message: /token service .* HTTP 500/ });
  const text = `${String(err)} ${JSON.stringify(err)} ${(err as Error).stack}`;
  t.notOk(text.includes(secret));
  t.notOk(text.includes(Buffer.from(`u:${secret}`).toString('base64')));
});

t.test('credentials are never sent to a token realm over plain HTTP on a non-loopback host', async (t) => {
  const reg = await fakeRegistry(t, (_req, res) =>
    json(
      res,
      401,
      {},
      { 'www-authenticate': 'Bearer realm="http://auth.example.invalid/token",service="svc"' },
    ),
  );
  const { client } = testClient();
  const err = await client
    .listTags(parseImageReference(`${reg.host}/app:1`), { credentials: { username: 'u', password: 'p' } })
    .catch((e: unknown) => e);
  t.match(err, {
    code: 'E_REGISTRY_AUTH',
    message: /to another host over plain HTTP \(http:\/\/auth\.example\.invalid\); refusing/,
  });
  t.equal(reg.hits.length, 1, 'only the registry was asked');
});

t.test(
  'labels: a manifest naming a config that is not a digest is refused, not fetched unverified',
  async (t) => {
    const config = JSON.stringify({
      config: { Labels: { 'org.opencontainers.image.source': 'https://evil.example' } },
    });
    for (const bad of ['latest', '../../../../v2/other/blobs/x', 'sha256:abc']) {
      const reg = await fakeRegistry(t, (req, res) => {
        if (req.url?.includes('/manifests/')) {
          return json(
            res,
            200,
            {
              schemaVersion: 2,
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              config: { digest: bad },
            },
            { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
          );
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(config);
      });
      const { client } = testClient();
      await t.rejects(
        client.getImageLabels(parseImageReference(`${reg.host}/app:1.0.0`), '1.0.0'),
        { code: 'E_REGISTRY_RESPONSE', message: /invalid config digest/ },
        bad,
      );
      t.notOk(
        reg.hits.some((h) => !h.includes('/manifests/')),
        `${bad}: nothing but the manifest was asked for`,
      );
    }
  },
);

t.test('the identitytoken is not re-sent to another host when the token realm redirects', async (t) => {
  const secret = 'Refresh-Token-Secret';
  const other = await fakeRegistry(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => json(res, 200, { token: 'stolen', echo: body }));
  });
  const reg = await fakeRegistry(t, (req, res) => {
    if (req.url?.startsWith('/token')) {
      res.writeHead(307, { location: `http://${other.host}/token` });
      return res.end();
    }
    json(
      res,
      401,
      {},
      { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="svc"` },
    );
  });
  const { client } = testClient({ maxAttempts: 1 });
  await t.rejects(
    client.listTags(parseImageReference(`${reg.host}/app:1`), { credentials: { identityToken: secret } }),
    { code: 'E_REGISTRY_UNAVAILABLE', message: /token service .* HTTP 307/ },
  );
  t.same(other.hits, [], 'the other host was never asked');
});
