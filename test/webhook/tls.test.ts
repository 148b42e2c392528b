import { X509Certificate } from 'node:crypto';
import { mkdtempSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generateSelfSigned, webhookHosts } from '../../webhook/self-signed.ts';
import type { SelfSignedCertificate } from '../../webhook/self-signed.ts';
import { CertificateReloader, TlsError, readKeyPair } from '../../webhook/tls.ts';
import { fixture, getTls, post, quietLogger, startTestWebhook, testCertificate } from './helpers.ts';

const HOSTS = webhookHosts('image-watcher-webhook', 'image-watcher');

// RSA key generation is the slow part: make two pairs once and share them.
let pairs: [SelfSignedCertificate, SelfSignedCertificate] | undefined;
function twoCertificates(): [SelfSignedCertificate, SelfSignedCertificate] {
  pairs ??= [testCertificate(), generateSelfSigned({ hosts: HOSTS, now: new Date() })];
  return pairs;
}

t.test('the self-signed certificate names every service DNS name, localhost and 127.0.0.1', (t) => {
  const now = new Date('2026-01-01T00:00:00Z');
  const generated = generateSelfSigned({ hosts: HOSTS, now });
  const ca = new X509Certificate(generated.caCert);
  const leaf = new X509Certificate(generated.cert);
  t.equal(ca.ca, true, 'the CA is a CA');
  t.equal(leaf.ca, false, 'the serving certificate is not');
  t.ok(leaf.checkIssued(ca), 'issued by the CA');
  t.ok(leaf.verify(ca.publicKey), 'signed by the CA');
  t.same(leaf.subjectAltName?.split(', '), [
    'DNS:image-watcher-webhook',
    'DNS:image-watcher-webhook.image-watcher',
    'DNS:image-watcher-webhook.image-watcher.svc',
    'DNS:image-watcher-webhook.image-watcher.svc.cluster.local',
    'DNS:localhost',
    'IP Address:127.0.0.1',
  ]);
  t.ok(leaf.checkHost('image-watcher-webhook.image-watcher.svc'));
  t.ok(leaf.checkIP('127.0.0.1'));
  t.equal(leaf.checkHost('example.com'), undefined);
  t.ok(new Date(leaf.validFrom) < new Date('2026-01-01T00:00:00Z'), 'valid from slightly before now');
  t.ok(new Date(leaf.validTo) > new Date('2026-12-31T00:00:00Z'), 'valid for a year');
  t.end();
});

t.test('a client trusting only the generated CA verifies the served certificate', async (t) => {
  const hook = await startTestWebhook(t);
  const byIp = await post(hook.url, hook.ca, fixture('deployment-create.json'));
  t.equal(byIp.status, 200, 'by 127.0.0.1');
  const byServiceName = await getTls(`${hook.url}/healthz`, hook.ca, {
    servername: 'image-watcher-webhook.image-watcher.svc',
  });
  t.equal(byServiceName.status, 200, 'by the service DNS name (SNI and hostname check)');
  const other = twoCertificates()[1];
  await t.rejects(getTls(`${hook.url}/healthz`, other.caCert), 'a client trusting another CA refuses it');
});

/** Writes a pair the way the kubelet mounts a Secret: files behind a `..data` symlink swapped atomically. */
function mountSecret(dir: string, pair: { cert: string; key: string }, generation: number): void {
  const data = join(dir, `..2026_${generation}`);
  mkdirSync(data);
  writeFileSync(join(data, 'tls.crt'), pair.cert);
  writeFileSync(join(data, 'tls.key'), pair.key);
  symlinkSync(`..2026_${generation}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  if (generation === 1) {
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(dir, 'tls.key'));
  }
}

async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const works = (url: string, ca: string) => () =>
  getTls(`${url}/healthz`, ca).then(
    (r) => r.status === 200,
    () => false,
  );

t.test('a rotated certificate is served without restart: the new CA works, the old one fails', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [first, second] = twoCertificates();
  mountSecret(dir, first, 1);
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const hook = await startTestWebhook(t, {
    tls: await readKeyPair(certFile, keyFile),
    // A long poll interval: the directory watch must notice the swap on its own.
    reloadFrom: { certFile, keyFile, intervalMs: 60_000, debounceMs: 20 },
  });
  t.ok(await works(hook.url, first.caCert)(), 'the first CA works before rotation');
  t.notOk(await works(hook.url, second.caCert)(), 'the second CA does not yet');

  mountSecret(dir, second, 2);
  t.ok(await eventually(works(hook.url, second.caCert), 5000), 'the new CA works after rotation');
  t.notOk(await works(hook.url, first.caCert)(), 'the old CA fails after rotation');
  const res = await post(hook.url, second.caCert, fixture('deployment-create.json'));
  t.equal(res.status, 200, 'reviews are served with the new certificate');
});

t.test('the periodic re-read picks up a change without file events', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [first, second] = twoCertificates();
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  writeFileSync(certFile, first.cert);
  writeFileSync(keyFile, first.key);
  const applied: string[] = [];
  const reloader = new CertificateReloader({
    certFile,
    keyFile,
    current: { cert: first.cert, key: first.key },
    apply: (pair) => applied.push(pair.cert),
    logger: quietLogger(),
    intervalMs: 50,
  });
  // Not started, so no watcher: only the timer-driven path and explicit calls remain.
  t.equal(await reloader.reload(), 'unchanged');
  writeFileSync(certFile, second.cert);
  t.equal(await reloader.reload(), 'failed', 'a new cert with the old key is refused');
  writeFileSync(keyFile, second.key);
  reloader.start();
  t.teardown(() => reloader.stop());
  t.ok(
    await eventually(() => Promise.resolve(applied.length === 1), 3000),
    'applied once by the periodic check',
  );
  t.equal(applied[0], second.cert);
  t.equal(await reloader.reload(), 'unchanged');
});

t.test('a broken rotation keeps the previous certificate in service', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [first] = twoCertificates();
  mountSecret(dir, first, 1);
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const hook = await startTestWebhook(t, {
    tls: await readKeyPair(certFile, keyFile),
    reloadFrom: { certFile, keyFile, intervalMs: 60_000, debounceMs: 20 },
  });
  mountSecret(dir, { cert: 'not a certificate', key: first.key }, 2);
  t.equal(await hook.running.reloader!.reload(), 'failed');
  t.ok(await works(hook.url, first.caCert)(), 'still serving the first certificate');
});

t.test('readKeyPair explains unreadable and mismatched files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [a, b] = twoCertificates();
  writeFileSync(join(dir, 'a.crt'), a.cert);
  writeFileSync(join(dir, 'b.key'), b.key);
  writeFileSync(join(dir, 'a.key'), a.key);
  const cases = [
    {
      name: 'a missing file',
      input: ['missing.crt', 'a.key'],
      want: /cannot read TLS_CERT_FILE\/TLS_KEY_FILE: .*ENOENT/,
    },
    {
      name: 'a key of another certificate',
      input: ['a.crt', 'b.key'],
      want: /not a matching PEM certificate and key/,
    },
    { name: 'a key where the certificate belongs', input: ['a.key', 'a.key'], want: /not a matching PEM/ },
  ];
  for (const c of cases) {
    const err = await readKeyPair(join(dir, c.input[0]!), join(dir, c.input[1]!)).catch((e: unknown) => e);
    t.ok(err instanceof TlsError, `${c.name}: TlsError`);
    t.equal((err as TlsError).code, 'E_TLS', c.name);
    t.match((err as TlsError).message, c.want, c.name);
  }
  t.same(await readKeyPair(join(dir, 'a.crt'), join(dir, 'a.key')), { cert: a.cert, key: a.key });
});
