// Attacks from the hardening review, replayed through the real client against hostile local servers.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import { OciRegistryClient } from '../../../watcher/registry/client.ts';
import type { RegistryClientOptions } from '../../../watcher/registry/client.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../../watcher/registry/media-types.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Server {
  host: string;
  port: number;
  hits: { method: string; url: string; authorization: string | undefined }[];
  /** Responses whose connection closed before they were finished (the client stopped reading). */
  cut: number;
  /** Settles when the first response is cut. */
  firstCut: Promise<void>;
}

async function serve(t: Test, handler: Handler): Promise<Server> {
  let onCut!: () => void;
  const s: Server = { host: '', port: 0, hits: [], cut: 0, firstCut: new Promise((r) => (onCut = r)) };
  const server = createServer((req, res) => {
    s.hits.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    res.on('close', () => {
      if (res.writableFinished) return;
      s.cut++;
      onCut();
    });
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
  s.port = (server.address() as AddressInfo).port;
  s.host = `127.0.0.1:${s.port}`;
  return s;
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

function client(extra: RegistryClientOptions = {}): OciRegistryClient {
  return new OciRegistryClient({
    sleep: () => Promise.resolve(),
    random: () => 0.5,
    maxAttempts: 1,
    ...extra,
  });
}

const ref = (host: string, repo = 'app') => parseImageReference(`${host}/${repo}:1.0.0`);

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

t.test('a 15 MiB tag page is cut off at the page cap and named in a typed error', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const reg = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"tags":["');
    let sent = 0;
    // Streamed without a Content-Length, as the attack did; stops once the client hangs up.
    const pump = (): void => {
      while (sent < 15 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end('"]}');
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  });
  const c = client();
  const err = await c.listTags(ref(reg.host)).catch((e: unknown) => e);
  t.match(err, {
    code: 'E_REGISTRY_RESPONSE',
    message: `registry ${reg.host} sent more than ${4 * 1024 * 1024} bytes for the tag list of app; refusing to read it`,
  });
  t.equal(c.cachedTagBytes, 0, 'nothing kept');
});

t.test('100,000 tags of 150 characters are dropped as invalid, never kept', async (t) => {
  const long = (i: number) => `v${String(i).padStart(149, '0')}`;
  const pages = 10;
  const reg = await serve(t, (req, res) => {
    const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '0');
    const tags = Array.from({ length: 10_000 }, (_, i) => long(page * 10_000 + i));
    if (page === 0) tags.push('1.0.0', '1.1.0');
    const link: Record<string, string> =
      page + 1 < pages ? { link: `</v2/app/tags/list?n=1000&page=${page + 1}>; rel="next"` } : {};
    json(res, 200, { name: 'app', tags }, link);
  });
  const c = client();
  t.same(await c.listTags(ref(reg.host)), ['1.0.0', '1.1.0'], 'only the valid tags');
  t.equal(reg.hits.length, pages, 'every page was read');
  t.ok(c.cachedTagBytes < 1024, `the cache holds ${c.cachedTagBytes} bytes`);
});

t.test('100,000 valid tags of 128 characters exceed the byte budget of one repository', async (t) => {
  const reg = await serve(t, (req, res) => {
    const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '0');
    const tags = Array.from({ length: 10_000 }, (_, i) => `v${String(page * 10_000 + i).padStart(127, '0')}`);
    json(res, 200, { tags }, { link: `</v2/app/tags/list?page=${page + 1}>; rel="next"` });
  });
  const c = client();
  const err = await c.listTags(ref(reg.host)).catch((e: unknown) => e);
  t.match(err, {
    code: 'E_REGISTRY_RESPONSE',
    message: `registry ${reg.host} listed more than ${8 * 1024 * 1024} bytes of tags for app; pin a digest or narrow the repository`,
  });
  t.ok(reg.hits.length <= 6, `stopped after ${reg.hits.length} pages, not 10`);
  t.equal(c.cachedTagBytes, 0);
});

t.test('seven concurrent lists of large repositories stay within the shared list budget', async (t) => {
  const reg = await serve(t, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const page = Number(url.searchParams.get('page') ?? '0');
    const repo = url.pathname.split('/')[2];
    const tags = Array.from({ length: 10_000 }, (_, i) => `v${String(page * 10_000 + i).padStart(127, '0')}`);
    const next: Record<string, string> =
      page + 1 < 4 ? { link: `</v2/${repo}/tags/list?page=${page + 1}>; rel="next"` } : {};
    json(res, 200, { tags }, next);
  });
  // 40,000 tags of 128 characters: about 6.9 MiB each, under the 8 MiB of one repository.
  const c = client({ maxListBytesInFlight: 16 * 1024 * 1024, maxCacheBytes: 16 * 1024 * 1024 });
  const results = await Promise.allSettled(
    Array.from({ length: 7 }, (_, i) => c.listTags(ref(reg.host, `r${i}`))),
  );
  const ok = results.filter((r) => r.status === 'fulfilled');
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  t.ok(ok.length >= 1, `${ok.length} lists completed`);
  t.ok(failed.length >= 1, `${failed.length} refused for memory`);
  for (const e of failed) t.match(e, { code: 'E_REGISTRY_UNAVAILABLE', message: /memory budget/ });
  t.ok(c.cachedTagBytes <= 16 * 1024 * 1024, `the cache holds ${c.cachedTagBytes} bytes, at most its budget`);
});

t.test('endless pagination with a page that never comes ends at the list deadline', async (t) => {
  const reg = await serve(t, (req, res) => {
    const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '0');
    if (page >= 3) return; // the slow page: never answered
    json(res, 200, { tags: [`1.0.${page}`] }, { link: `</v2/app/tags/list?page=${page + 1}>; rel="next"` });
  });
  // Per-request timeout far beyond the deadline: only the deadline can end this.
  const c = client({ listTimeoutMs: 300, timeoutMs: 60_000 });
  const err = await c.listTags(ref(reg.host)).catch((e: unknown) => e);
  t.match(err, {
    code: 'E_REGISTRY_TIMEOUT',
    message: `registry ${reg.host} did not list the tags of app within 300 ms (all pages; REGISTRY_LIST_TIMEOUT)`,
  });
  t.equal(reg.hits.length, 4, 'three pages, then the one that hung');
});

t.test('endless fast pagination ends at the deadline too, long before maxPages', async (t) => {
  const reg = await serve(t, (req, res) => {
    const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '0');
    json(res, 200, { tags: ['1.0.0'] }, { link: `</v2/app/tags/list?page=${page + 1}>; rel="next"` });
  });
  const c = client({ listTimeoutMs: 200, maxPages: 1_000_000, ratePerSecond: 1e6, burst: 1e6 });
  const err = await c.listTags(ref(reg.host)).catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_TIMEOUT' });
  const pages = reg.hits.length;
  t.ok(pages > 1, `${pages} pages read before the deadline`);
});

t.test('a caller signal stops the list and the hanging request behind it', async (t) => {
  let arrived!: () => void;
  const hanging = new Promise<void>((r) => (arrived = r));
  const reg = await serve(t, () => arrived());
  const c = client({ timeoutMs: 60_000 });
  const ac = new AbortController();
  const pending = c.listTags(ref(reg.host), { signal: ac.signal }).catch((e: unknown) => e);
  await hanging;
  ac.abort();
  t.match(await pending, { code: 'E_REGISTRY_ABORTED', message: /stopped by the caller/ });
  // The connection is closed: the request behind the list is stopped, not left to the registry.
  await reg.firstCut;
  t.equal(reg.cut, 1);
});

t.test('a shared list goes on while another caller still waits for it', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let arrived!: () => void;
  const first = new Promise<void>((r) => (arrived = r));
  const reg = await serve(t, (_req, res) => {
    arrived();
    void gate.then(() => json(res, 200, { tags: ['1.0.0'] }));
  });
  const c = client();
  const a = new AbortController();
  const b = new AbortController();
  const pa = c.listTags(ref(reg.host), { signal: a.signal }).catch((e: unknown) => e);
  const pb = c.listTags(ref(reg.host), { signal: b.signal });
  await first;
  a.abort();
  t.match(await pa, { code: 'E_REGISTRY_ABORTED' });
  release();
  t.same(await pb, ['1.0.0'], 'the other caller gets the list');
  t.equal(reg.hits.length, 1, 'one request for both');
});

t.test('a token realm on a loopback service is never called, and no token goes back', async (t) => {
  const stolen = await serve(t, (_req, res) => json(res, 200, { token: 'internal-service-token' }));
  for (const realm of [
    `https://localhost:${stolen.port}/token`, // resolves to 127.0.0.1
    `https://[::ffff:127.0.0.1]:${stolen.port}/token`,
    `https://[::7f00:1]:${stolen.port}/token`,
    `https://169.254.169.254/latest/meta-data`,
    `http://localhost:${stolen.port}/token`, // another host over plain HTTP
  ]) {
    const reg = await serve(t, (_req, res) =>
      json(res, 401, {}, { 'www-authenticate': `Bearer realm="${realm}",service="svc"` }),
    );
    const err = await client()
      .listTags(ref(reg.host))
      .catch((e: unknown) => e);
    t.match(err, { code: /^E_REGISTRY_(RESPONSE|AUTH)$/, message: /refusing/ }, `realm ${realm} is refused`);
    t.equal(reg.hits.length, 1, 'the registry was asked once');
    t.equal(reg.hits[0]?.authorization, undefined, 'and never got a token back');
  }
  t.equal(stolen.hits.length, 0, 'the internal service was never called');
});

t.test('a token realm on the registry host itself still works (tests, on-prem)', async (t) => {
  const tokens = await serve(t, (_req, res) => json(res, 200, { token: 'good-token' }));
  const reg = await serve(t, (req, res) => {
    if (req.headers.authorization !== 'Bearer good-token') {
      return json(
        res,
        401,
        {},
        {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${tokens.port}/token",service="svc"`,
        },
      );
    }
    json(res, 200, { tags: ['1.0.0'] });
  });
  t.same(await client().listTags(ref(reg.host)), ['1.0.0']);
  t.equal(tokens.hits.length, 1);
});

t.test('a redirect chain to a guarded address fails at the guarded hop', async (t) => {
  const internal = await serve(t, (_req, res) => json(res, 200, { tags: ['9.9.9'] }));
  const reg = await serve(t, (req, res) => {
    if (req.url?.startsWith('/v2/app/tags/list')) {
      res.writeHead(302, { location: '/hop1' });
      return res.end();
    }
    // Second hop: another name for loopback (an IPv4-mapped address).
    res.writeHead(307, { location: `http://[::ffff:7f00:1]:${internal.port}/v2/app/tags/list` });
    res.end();
  });
  const err = await client()
    .listTags(ref(reg.host))
    .catch((e: unknown) => e);
  t.match(err, {
    code: 'E_REGISTRY_RESPONSE',
    message: `registry ${reg.host} redirected to ::ffff:7f00:1 for the tag list of app, which is ::ffff:7f00:1, an IPv4-mapped address embedding 127.0.0.1, a loopback address; refusing to contact it`,
  });
  t.same(
    reg.hits.map((h) => h.url),
    ['/v2/app/tags/list?n=1000', '/hop1'],
    'the same-host hop is followed',
  );
  t.equal(internal.hits.length, 0, 'the internal service was never called');
});

t.test('a redirect to a name resolving to the metadata address is refused', async (t) => {
  const reg = await serve(t, (_req, res) => {
    res.writeHead(302, { location: 'http://cdn.example.test/blob' });
    res.end();
  });
  const resolved: string[] = [];
  const c = client({
    resolve: (host) => {
      resolved.push(host);
      return Promise.resolve([{ address: '169.254.169.254', family: 4 }]);
    },
  });
  const err = await c.listTags(ref(reg.host)).catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /169\.254\.169\.254, a link-local address/ });
  t.same(resolved, ['cdn.example.test']);
});

t.test('an explicit allow lets redirects reach a private host, without the credentials', async (t) => {
  const cdn = await serve(t, (_req, res) => json(res, 200, { tags: ['1.0.0'] }));
  const reg = await serve(t, (req, res) => {
    if (req.headers.authorization === undefined) {
      return json(res, 401, {}, { 'www-authenticate': 'Basic realm="r"' });
    }
    res.writeHead(302, { location: `http://localhost:${cdn.port}/v2/app/tags/list` });
    res.end();
  });
  const c = client({ allowPrivate: true });
  const tags = await c.listTags(ref(reg.host), { credentials: { username: 'u', password: 'p' } });
  t.same(tags, ['1.0.0']);
  t.equal(cdn.hits.length, 1);
  t.equal(
    cdn.hits[0]?.authorization,
    undefined,
    'Authorization is dropped when a redirect leaves the origin',
  );
});

t.test('too many redirects are a response error', async (t) => {
  const reg = await serve(t, (req, res) => {
    res.writeHead(302, { location: `${req.url ?? '/'}x` });
    res.end();
  });
  const err = await client()
    .listTags(ref(reg.host))
    .catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /redirected the tag list of app more than 5 times/ });
  t.equal(reg.hits.length, 6);
});

t.test('two names for one target share its concurrency limit', async (t) => {
  let inFlight = 0;
  let most = 0;
  const waiting: ServerResponse[] = [];
  let arrived!: () => void;
  let first = new Promise<void>((r) => (arrived = r));
  const reg = await serve(t, (_req, res) => {
    inFlight++;
    most = Math.max(most, inFlight);
    waiting.push(res);
    arrived();
  });
  const c = client({ concurrency: 1 });
  const a = c.listTags(parseImageReference(`127.0.0.1:${reg.port}/app:1`));
  const b = c.listTags(parseImageReference(`localhost:${reg.port}/app:1`));
  for (let i = 0; i < 2; i++) {
    await first;
    first = new Promise<void>((r) => (arrived = r));
    inFlight--;
    json(waiting.shift()!, 200, { tags: [`1.0.${i}`] });
  }
  await Promise.all([a, b]);
  t.equal(most, 1, 'one request at a time to 127.0.0.1, whatever the registry is called');
});

t.test('a malformed digest from HEAD is a response error, never used', async (t) => {
  for (const digest of [
    'sha256:abc',
    'sha256:' + 'g'.repeat(64),
    'md5:' + 'a'.repeat(32),
    'sha256:../../x',
  ]) {
    const reg = await serve(t, (_req, res) => {
      res.writeHead(200, { 'docker-content-digest': digest, 'content-type': OCI_MANIFEST });
      res.end();
    });
    const err = await client()
      .getDigest(ref(reg.host), '1.0.0')
      .catch((e: unknown) => e);
    t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /malformed digest/ }, digest);
  }
  const good = 'sha512:' + 'a'.repeat(128);
  const reg = await serve(t, (_req, res) => {
    res.writeHead(200, { 'docker-content-digest': good, 'content-type': OCI_MANIFEST });
    res.end();
  });
  t.equal(await client().getDigest(ref(reg.host), '1.0.0'), good, 'sha512 is well-formed');
});

t.test('HEAD by digest answering another digest is refused', async (t) => {
  const asked = sha256('asked');
  const reg = await serve(t, (_req, res) => {
    res.writeHead(200, { 'docker-content-digest': sha256('other') });
    res.end();
  });
  const err = await client()
    .getDigest(ref(reg.host), asked)
    .catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /another digest/ });
});

t.test('a platform manifest whose bytes do not match its digest is never used', async (t) => {
  const config = JSON.stringify({
    config: { Labels: { 'org.opencontainers.image.source': 'https://evil.example' } },
  });
  const genuine = JSON.stringify({ mediaType: OCI_MANIFEST, config: { digest: sha256('genuine config') } });
  const forged = JSON.stringify({ mediaType: OCI_MANIFEST, config: { digest: sha256(config) } });
  const index = JSON.stringify({
    mediaType: OCI_INDEX,
    manifests: [{ digest: sha256(genuine), platform: { os: 'linux', architecture: 'amd64' } }],
  });
  const reg = await serve(t, (req, res) => {
    if (req.url === '/v2/app/manifests/1.0.0') {
      res.writeHead(200, { 'content-type': OCI_INDEX });
      return res.end(index);
    }
    if (req.url?.startsWith('/v2/app/manifests/sha256:')) {
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      return res.end(forged);
    }
    res.writeHead(200);
    res.end(config);
  });
  const err = await client()
    .getImageLabels(ref(reg.host), '1.0.0')
    .catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /do not match its digest/ });
  t.notOk(
    reg.hits.some((h) => h.url.includes('/blobs/')),
    'the config named by the forged manifest was not fetched',
  );
});

t.test('a manifest without a digest header is hashed, and a by-digest GET is verified', async (t) => {
  const body = JSON.stringify({ mediaType: OCI_MANIFEST, config: { digest: sha256('c') } });
  const reg = await serve(t, (req, res) => {
    res.writeHead(200, { 'content-type': OCI_MANIFEST });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  t.equal(await client().getDigest(ref(reg.host), '1.0.0'), sha256(body));
  const err = await client()
    .getDigest(ref(reg.host), sha256('something else'))
    .catch((e: unknown) => e);
  t.match(err, { code: 'E_REGISTRY_RESPONSE', message: /do not match its digest/ });
});

t.test('manifests, config blobs and token answers have their own byte caps', async (t) => {
  const huge = Buffer.alloc(5 * 1024 * 1024, ' ');
  const manifestReg = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': OCI_MANIFEST });
    res.end(huge);
  });
  t.match(
    await client()
      .getImageLabels(ref(manifestReg.host), '1.0.0')
      .catch((e: unknown) => e),
    { code: 'E_REGISTRY_RESPONSE', message: /sent more than 4194304 bytes for the manifest app:1\.0\.0/ },
  );
  const configDigest = sha256('config');
  const configReg = await serve(t, (req, res) => {
    if (req.url?.includes('/manifests/')) {
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      return res.end(JSON.stringify({ mediaType: OCI_MANIFEST, config: { digest: configDigest } }));
    }
    res.writeHead(200);
    res.end(huge);
  });
  t.match(
    await client()
      .getImageLabels(ref(configReg.host), '1.0.0')
      .catch((e: unknown) => e),
    { code: 'E_REGISTRY_RESPONSE', message: /sent more than 4194304 bytes for the image config/ },
  );
  const tokenReg = await serve(t, (req, res) => {
    if (req.url?.startsWith('/token')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ token: 'x'.repeat(300 * 1024) }));
    }
    json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${tokenReg.host}/token",service="svc"` });
  });
  t.match(
    await client()
      .listTags(ref(tokenReg.host))
      .catch((e: unknown) => e),
    { code: 'E_REGISTRY_RESPONSE', message: /sent more than 262144 bytes for a token for app/ },
  );
});
