import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { blockedReason, guardedGet, ReleaseNotesError } from '../../../watcher/release-notes/ssrf.ts';
import type { Resolve } from '../../../watcher/release-notes/ssrf.ts';
import { generateSelfSigned } from '../../../webhook/self-signed.ts';
import { startServer } from './helpers.ts';

const addresses: { name: string; input: string; want: RegExp | undefined }[] = [
  { name: 'a public IPv4 address is allowed', input: '140.82.112.5', want: undefined },
  { name: 'a public IPv6 address is allowed', input: '2606:4700::6810:84e5', want: undefined },
  { name: 'loopback is blocked', input: '127.0.0.1', want: /loopback/ },
  { name: 'the whole loopback network is blocked', input: '127.1.2.3', want: /loopback/ },
  { name: '10/8 is blocked', input: '10.0.0.5', want: /private/ },
  { name: '172.16/12 is blocked', input: '172.31.255.1', want: /private/ },
  { name: 'just outside 172.16/12 is allowed', input: '172.32.0.1', want: undefined },
  { name: '192.168/16 is blocked', input: '192.168.1.1', want: /private/ },
  { name: 'carrier-grade NAT is blocked', input: '100.64.0.1', want: /carrier-grade/ },
  { name: 'the cloud metadata address is blocked', input: '169.254.169.254', want: /link-local.*metadata/ },
  { name: 'the unspecified address is blocked', input: '0.0.0.0', want: /unspecified/ },
  { name: 'IPv4 multicast is blocked', input: '239.1.1.1', want: /multicast/ },
  { name: 'the broadcast address is blocked', input: '255.255.255.255', want: /broadcast/ },
  { name: 'IPv6 loopback is blocked', input: '::1', want: /loopback/ },
  { name: 'the IPv6 unspecified address is blocked', input: '::', want: /unspecified/ },
  { name: 'IPv6 unique local addresses are blocked', input: 'fd12:3456::1', want: /unique local/ },
  { name: 'IPv6 link-local addresses are blocked', input: 'fe80::1', want: /link-local/ },
  { name: 'IPv6 multicast is blocked', input: 'ff02::1', want: /multicast/ },
  { name: 'IPv4-mapped loopback is blocked', input: '::ffff:127.0.0.1', want: /loopback/ },
  { name: 'IPv4-mapped metadata in hex is blocked', input: '::ffff:a9fe:a9fe', want: /link-local/ },
  { name: 'IPv4-mapped public addresses are allowed', input: '::ffff:8.8.8.8', want: undefined },
  { name: 'NAT64 of a private address is blocked', input: '64:ff9b::10.0.0.1', want: /private/ },
  { name: 'a name is not an address', input: 'localhost', want: /not an IP address/ },
];

t.test('addresses are classified', (t) => {
  for (const c of addresses) {
    const got = blockedReason(c.input);
    if (c.want === undefined) t.equal(got, undefined, c.name);
    else t.match(got, c.want, c.name);
  }
  t.end();
});

function resolver(table: Record<string, string[]>): Resolve & { calls: string[] } {
  const calls: string[] = [];
  const fn = (host: string) => {
    calls.push(host);
    const list = table[host];
    if (list === undefined) return Promise.reject(new Error(`ENOTFOUND ${host}`));
    return Promise.resolve(list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
  return Object.assign(fn, { calls });
}

async function refused(t: Test, p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ReleaseNotesError, 'a ReleaseNotesError');
  t.equal((err as ReleaseNotesError).code, code);
  if (message) t.match((err as Error).message, message);
}

t.test('requests to private targets are refused before connecting', async (t) => {
  const resolve = resolver({
    'internal.example': ['10.0.0.5'],
    'metadata.example': ['169.254.169.254'],
    'mixed.example': ['140.82.112.5', '127.0.0.1'],
    'loop.example': ['127.0.0.1'],
  });
  await refused(
    t,
    guardedGet({ url: 'http://internal.example/notes' }, { resolve }),
    'E_NOTES_BLOCKED',
    /10\.0\.0\.5, a private address/,
  );
  await refused(
    t,
    guardedGet({ url: 'http://metadata.example/latest' }, { resolve }),
    'E_NOTES_BLOCKED',
    /RELEASE_NOTES_ALLOW_PRIVATE/,
  );
  await refused(
    t,
    guardedGet({ url: 'http://mixed.example/' }, { resolve }),
    'E_NOTES_BLOCKED',
    /127\.0\.0\.1/,
  );
  await refused(
    t,
    guardedGet({ url: 'http://169.254.169.254/latest/meta-data' }),
    'E_NOTES_BLOCKED',
    /link-local/,
  );
  await refused(t, guardedGet({ url: 'http://[::1]:8080/' }), 'E_NOTES_BLOCKED', /loopback/);
  await refused(t, guardedGet({ url: 'http://[::ffff:127.0.0.1]/' }), 'E_NOTES_BLOCKED', /loopback/);
  await refused(
    t,
    guardedGet({ url: 'http://loop.example/' }, { resolve, allowHosts: ['other.example'] }),
    'E_NOTES_BLOCKED',
    undefined,
  );
  await refused(
    t,
    guardedGet({ url: 'file:///etc/passwd' }),
    'E_NOTES_BLOCKED',
    /file: URLs are not fetched/,
  );
  await refused(t, guardedGet({ url: 'not a url' }), 'E_NOTES_BLOCKED', /not an absolute URL/);
  await refused(
    t,
    guardedGet({ url: 'http://unknown.example/' }, { resolve }),
    'E_NOTES_NETWORK',
    /cannot resolve/,
  );
});

t.test('a local server is reached only when private targets are allowed', async (t) => {
  const server = await startServer((_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end('hello');
  });
  t.teardown(() => server.close());
  await refused(
    t,
    guardedGet({ url: `${server.origin}/` }),
    'E_NOTES_BLOCKED',
    /127\.0\.0\.1, a loopback address/,
  );
  t.equal(server.requests.length, 0, 'the server was never contacted');
  const res = await guardedGet({ url: `${server.origin}/` }, { allowPrivate: true });
  t.equal(res.status, 200);
  t.equal(res.body.toString(), 'hello');
  const viaAllowList = await guardedGet({ url: `${server.origin}/` }, { allowHosts: ['127.0.0.1'] });
  t.equal(viaAllowList.status, 200, 'an allow-listed host is reached');
});

t.test('the connection is pinned to the checked address and keeps the host name', async (t) => {
  const server = await startServer((_req, res) => res.end('pinned'));
  t.teardown(() => server.close());
  const resolve = resolver({ 'notes.example': ['127.0.0.1'] });
  const res = await guardedGet(
    { url: `http://notes.example:${server.port}/x` },
    { resolve, allowHosts: ['notes.example'] },
  );
  t.equal(res.body.toString(), 'pinned');
  t.equal(server.requests[0]?.headers.host, `notes.example:${server.port}`, 'Host header names the host');
  t.same(resolve.calls, ['notes.example'], 'resolved exactly once: no second lookup to rebind');
});

t.test('redirects are followed and every hop is checked', async (t) => {
  const server = await startServer((req, res) => {
    if (req.url === '/to-metadata') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    } else if (req.url === '/to-private-name') {
      res.writeHead(301, { location: 'http://internal.example/' }).end();
    } else if (req.url === '/to-file') {
      res.writeHead(302, { location: 'file:///etc/passwd' }).end();
    } else if (req.url === '/hop') {
      res.writeHead(307, { location: '/final' }).end();
    } else if (req.url?.startsWith('/loop')) {
      res.writeHead(302, { location: `/loop${(req.url.length % 10) + 1}` }).end();
    } else if (req.url === '/no-location') {
      res.writeHead(302).end();
    } else if (req.url === '/to-other-origin') {
      res.writeHead(302, { location: `http://localhost:${server.port}/final` }).end();
    } else {
      res.end(`final, authorization=${req.headers.authorization ?? 'none'}`);
    }
  });
  t.teardown(() => server.close());
  // The fake itself is allow-listed; what it redirects to is not.
  const opts = {
    allowHosts: ['127.0.0.1', 'localhost'],
    resolve: resolver({ 'internal.example': ['10.1.2.3'], localhost: ['127.0.0.1'] }),
  };
  await refused(
    t,
    guardedGet({ url: `${server.origin}/to-metadata` }, opts),
    'E_NOTES_BLOCKED',
    /169\.254\.169\.254/,
  );
  await refused(
    t,
    guardedGet({ url: `${server.origin}/to-private-name` }, opts),
    'E_NOTES_BLOCKED',
    /10\.1\.2\.3/,
  );
  await refused(t, guardedGet({ url: `${server.origin}/to-file` }, opts), 'E_NOTES_BLOCKED', /file:/);
  await refused(
    t,
    guardedGet({ url: `${server.origin}/loop` }, opts),
    'E_NOTES_TOO_MANY_REDIRECTS',
    /more than 3 times/,
  );
  await refused(
    t,
    guardedGet({ url: `${server.origin}/no-location` }, opts),
    'E_NOTES_RESPONSE',
    /without a Location/,
  );

  const ok = await guardedGet(
    { url: `${server.origin}/hop`, originHeaders: { authorization: 'Bearer s3cret' } },
    opts,
  );
  t.equal(ok.url, `${server.origin}/final`, 'the final URL is reported');
  t.equal(ok.body.toString(), 'final, authorization=Bearer s3cret', 'same origin keeps the token');

  const moved = await guardedGet(
    { url: `${server.origin}/to-other-origin`, originHeaders: { authorization: 'Bearer s3cret' } },
    opts,
  );
  t.equal(moved.body.toString(), 'final, authorization=none', 'another origin does not get the token');
});

t.test('an oversize body is cut at the limit', async (t) => {
  const server = await startServer((_req, res) => {
    res.setHeader('content-type', 'text/plain');
    // Streams far more than the limit; the client must stop reading.
    for (let i = 0; i < 64; i++) res.write('x'.repeat(16 * 1024));
    res.end();
  });
  t.teardown(() => server.close());
  const res = await guardedGet({ url: `${server.origin}/big` }, { allowPrivate: true, maxBytes: 10_000 });
  t.equal(res.body.length, 10_000);
  t.equal(res.truncated, true);
  const small = await guardedGet({ url: `${server.origin}/big` }, { allowPrivate: true });
  t.equal(small.body.length, 256 * 1024, 'the default cap is 256 KiB');
});

t.test('a slow server times out', async (t) => {
  const server = await startServer((req, res) => {
    if (req.url === '/slow-body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      return; // never ends
    }
    // never answers
  });
  t.teardown(() => server.close());
  const started = Date.now();
  await refused(
    t,
    guardedGet({ url: `${server.origin}/slow` }, { allowPrivate: true, timeoutMs: 200 }),
    'E_NOTES_TIMEOUT',
    /did not answer within 200 ms/,
  );
  await refused(
    t,
    guardedGet({ url: `${server.origin}/slow-body` }, { allowPrivate: true, timeoutMs: 200 }),
    'E_NOTES_TIMEOUT',
  );
  t.ok(Date.now() - started < 3000, 'gave up promptly');
});

t.test('a closed port is a network error', async (t) => {
  const server = await startServer((_req, res) => res.end());
  const origin = server.origin;
  await server.close();
  await refused(
    t,
    guardedGet({ url: `${origin}/` }, { allowPrivate: true }),
    'E_NOTES_NETWORK',
    /ECONNREFUSED/,
  );
});

t.test(
  'https is pinned to the checked address while SNI and the certificate use the host name',
  async (t) => {
    const pem = generateSelfSigned({ hosts: ['notes.example'], now: new Date() });
    const servernames: (string | false | null)[] = [];
    const server = https.createServer({ cert: pem.cert, key: pem.key }, (_req, res) =>
      res.end('secure notes'),
    );
    server.on('secureConnection', (socket: TLSSocket) => servernames.push(socket.servername));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      server.closeAllConnections();
      server.close();
    });
    const port = (server.address() as AddressInfo).port;
    const resolve = resolver({ 'notes.example': ['127.0.0.1'], 'other.example': ['127.0.0.1'] });
    const opts = { resolve, allowHosts: ['notes.example', 'other.example'], ca: pem.caCert };
    const res = await guardedGet({ url: `https://notes.example:${port}/` }, opts);
    t.equal(res.body.toString(), 'secure notes');
    t.same(servernames, ['notes.example'], 'SNI carries the host name, not the IP');
    await refused(
      t,
      guardedGet({ url: `https://other.example:${port}/` }, opts),
      'E_NOTES_NETWORK',
      /ERR_TLS_CERT_ALTNAME_INVALID/,
    );
    await refused(
      t,
      guardedGet({ url: `https://notes.example:${port}/` }, { resolve, allowHosts: ['notes.example'] }),
      'E_NOTES_NETWORK',
    );
  },
);
