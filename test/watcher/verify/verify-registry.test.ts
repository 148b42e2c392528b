// Signature verification against the real CNCF registry (distribution 2.8: no referrers API,
// so bundles are found through the referrers tag schema), with artefacts written by hand in
// cosign's and Sigstore's documented formats.
import t from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import { compileUserPattern } from '../../../shared/regex.ts';
import { OciRegistryClient } from '../../../watcher/registry/client.ts';
import { parseTrustedRoot } from '../../../watcher/verify/bundle.ts';
import { signatureTag } from '../../../watcher/verify/cosign.ts';
import { parsePublicKeys } from '../../../watcher/verify/keys.ts';
import { buildPolicy } from '../../../watcher/verify/policy.ts';
import type { IdentityRule } from '../../../watcher/verify/types.ts';
import { VerdictCache, verifySignature } from '../../../watcher/verify/verify.ts';
import { buildImage, buildIndex } from '../../support/images.ts';
import type { BuiltImage } from '../../support/images.ts';
import { pushImage, pushManifest, startCountingProxy, startRegistry } from '../../support/registry.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import {
  BUNDLE_TYPE,
  bundleReferrer,
  cosignSignatureImage,
  createTestSigstore,
  keyPair,
  publicPem,
  referrersTagIndex,
  signPayload,
  simpleSigningPayload,
} from '../../support/signing.ts';

let registry: RunningRegistry;
const ec = keyPair('ec');
const ed = keyPair('ed25519');
const rsa = keyPair('rsa');
const stranger = keyPair('ec');

const trusted = [
  ...parsePublicKeys(publicPem(ec.publicKey), 'ec.pub'),
  ...parsePublicKeys(publicPem(ed.publicKey) + publicPem(rsa.publicKey), 'more.pub'),
];
const ISSUER = 'https://token.actions.githubusercontent.com';
const SUBJECT = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const rules: IdentityRule[] = [
  {
    issuer: compileUserPattern(`^(?:${ISSUER.replace(/\./g, '\\.')})$`),
    subject: compileUserPattern('^(?:https://github\\.com/acme/.*)$'),
  },
];

const digests: Record<string, string> = {};
let sigstore: Awaited<ReturnType<typeof createTestSigstore>>;

async function push(repo: string, tag: string, image: BuiltImage = buildImage()): Promise<string> {
  const d = await pushImage(registry.url, repo, [tag], image);
  digests[`${repo}:${tag}`] = d;
  return d;
}

async function pushSig(repo: string, digest: string, layers: { payload: Buffer; signature: string }[]) {
  await pushImage(registry.url, repo, [signatureTag(digest)], cosignSignatureImage(layers));
}

function cosignLayer(reference: string, digest: string, key = ec.privateKey) {
  const payload = simpleSigningPayload(reference, digest);
  return { payload, signature: signPayload(payload, key) };
}

async function pushBundle(repo: string, subject: BuiltImage, bundle: unknown, fallbackIndex = true) {
  const art = bundleReferrer(bundle, {
    digest: subject.manifest.digest,
    size: subject.manifest.size,
    mediaType: subject.manifest.mediaType,
  });
  await pushImage(registry.url, repo, [], art);
  await pushManifest(registry.url, repo, art.manifest.digest, art.manifest);
  if (fallbackIndex) {
    await pushManifest(
      registry.url,
      repo,
      subject.manifest.digest.replace(':', '-'),
      referrersTagIndex([art]),
    );
  }
}

t.before(async () => {
  registry = await startRegistry();
  sigstore = await createTestSigstore();
  const host = registry.host;
  const ref = (repo: string) => `${host}/${repo}`;

  for (const [tag, key] of [
    ['ec', ec.privateKey],
    ['ed', ed.privateKey],
    ['rsa', rsa.privateKey],
  ] as const) {
    const d = await push('app', tag);
    await pushSig('app', d, [cosignLayer(ref('app'), d, key)]);
  }
  await push('app', 'unsigned');
  const wrongKey = await push('app', 'wrong-key');
  await pushSig('app', wrongKey, [cosignLayer(ref('app'), wrongKey, stranger.privateKey)]);
  // A signature over another image's digest copied under this digest's .sig tag.
  const other = await push('app', 'other');
  const elsewhere = await push('app', 'points-elsewhere');
  await pushSig('app', elsewhere, [cosignLayer(ref('app'), other)]);
  // Signed for another repository.
  const otherRepo = await push('app', 'other-repo');
  await pushSig('app', otherRepo, [cosignLayer(ref('evil'), otherRepo)]);
  // Tampered payload: signature of the honest payload, payload changed afterwards.
  const tampered = await push('app', 'tampered');
  const honest = cosignLayer(ref('app'), tampered);
  const changed = Buffer.from(honest.payload.toString().replace('"optional":null', '"optional":{"a":1}'));
  await pushSig('app', tampered, [{ payload: changed, signature: honest.signature }]);
  // One bad and one good layer: the good one counts.
  const mixed = await push('app', 'mixed');
  await pushSig('app', mixed, [
    cosignLayer(ref('app'), mixed, stranger.privateKey),
    cosignLayer(ref('app'), mixed),
  ]);
  // Garbage in the .sig tag: an index, not a signature manifest.
  const garbage = await push('app', 'garbage');
  await pushImage(registry.url, 'app', [signatureTag(garbage)], buildIndex({ platforms: [] }));
  // A multi-arch index signed at the index digest.
  const idx = buildIndex({
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
  });
  const idxDigest = await push('app', 'index', idx);
  await pushSig('app', idxDigest, [cosignLayer(ref('app'), idxDigest)]);

  // Sigstore bundles through the referrers tag schema.
  const keyless = buildImage();
  const k = await push('kl', 'good', keyless);
  await pushBundle('kl', keyless, await sigstore.bundle({ digest: k, subject: SUBJECT, issuer: ISSUER }));
  const stranger1 = buildImage();
  const s = await push('kl', 'stranger', stranger1);
  await pushBundle(
    'kl',
    stranger1,
    await sigstore.bundle({
      digest: s,
      subject: 'https://github.com/mallory/x/.github/workflows/a.yml@refs/heads/main',
      issuer: ISSUER,
    }),
  );
  const expired = buildImage();
  const e = await push('kl', 'expired', expired);
  const hourAgo = Date.now() - 3_600_000;
  await pushBundle(
    'kl',
    expired,
    await sigstore.bundle({
      digest: e,
      subject: SUBJECT,
      issuer: ISSUER,
      notBefore: new Date(hourAgo - 1_200_000),
      notAfter: new Date(hourAgo - 600_000),
      integratedTime: Math.floor(hourAgo / 1000),
    }),
  );
  const rogue = buildImage();
  const r = await push('kl', 'rogue', rogue);
  await pushBundle(
    'kl',
    rogue,
    await sigstore.bundle({ digest: r, subject: SUBJECT, issuer: ISSUER, untrustedCa: true }),
  );
  const otherSubject = buildImage();
  await push('kl', 'other-subject', otherSubject);
  await pushBundle(
    'kl',
    otherSubject,
    await sigstore.bundle({ digest: digests['app:ec']!, subject: SUBJECT, issuer: ISSUER }),
  );
});
t.teardown(() => registry.stop());

function client(host?: string): OciRegistryClient {
  return new OciRegistryClient({ maxAttempts: 1, insecureRegistries: host ? [host] : [] });
}

const policy = () =>
  buildPolicy({
    keys: trusted,
    identities: rules,
    trustMaterial: parseTrustedRoot(JSON.stringify(sigstore.trustedRoot), 'root.json'),
  });

async function check(repo: string, tag: string, c = client(), host = registry.host) {
  return verifySignature({
    registry: c,
    ref: parseImageReference(`${host}/${repo}:${tag}`),
    digest: digests[`${repo}:${tag}`]!,
    policy: policy(),
  });
}

t.test('classic cosign signatures by trusted ECDSA, Ed25519 and RSA keys verify', async (t) => {
  for (const [tag, name] of [
    ['ec', 'ec.pub'],
    ['ed', 'more.pub'],
    ['rsa', 'more.pub #2'],
  ] as const) {
    const v = await check('app', tag);
    t.same(v, { ok: true, signer: { kind: 'key', key: name, via: 'cosign-tag' } }, tag);
  }
});

t.test('an index is verified at the index digest', async (t) => {
  t.match(await check('app', 'index'), { ok: true, signer: { key: 'ec.pub' } });
});

t.test('attacks and failures are refused with a code saying what failed', async (t) => {
  const table = [
    { name: 'no signature at all', tag: 'unsigned', code: 'no-signature' },
    { name: 'signed by a key nobody trusts', tag: 'wrong-key', code: 'wrong-key' },
    {
      name: 'a .sig tag whose payload names another digest',
      tag: 'points-elsewhere',
      code: 'digest-mismatch',
    },
    { name: 'a signature for another repository', tag: 'other-repo', code: 'identity-mismatch' },
    { name: 'a payload changed after signing', tag: 'tampered', code: 'wrong-key' },
    {
      name: 'a .sig tag holding an index instead of a signature',
      tag: 'garbage',
      code: 'bad-signature-data',
    },
  ];
  for (const row of table) {
    const v = await check('app', row.tag);
    t.equal(v.ok, false, row.name);
    if (!v.ok) {
      t.equal(v.code, row.code, row.name);
      t.ok(v.message.length > 10, `${row.name}: ${v.message}`);
    }
  }
});

t.test('one good layer among bad ones verifies', async (t) => {
  t.match(await check('app', 'mixed'), { ok: true });
});

t.test('Sigstore bundles via the referrers tag schema (no referrers API on distribution 2.8)', async (t) => {
  t.same(await check('kl', 'good'), {
    ok: true,
    signer: { kind: 'keyless', issuer: ISSUER, subject: SUBJECT, via: 'referrer' },
  });
  const table = [
    { name: 'certificate identity not allowed', tag: 'stranger', code: 'identity-mismatch' },
    { name: 'certificate expired when logged', tag: 'expired', code: 'expired-certificate' },
    { name: 'certificate from a CA not in the trusted root', tag: 'rogue', code: 'wrong-key' },
    { name: 'bundle about another digest', tag: 'other-subject', code: 'digest-mismatch' },
  ];
  for (const row of table) {
    const v = await check('kl', row.tag);
    t.match(v, { ok: false, code: row.code }, row.name);
  }
});

t.test('garbage or 5xx on the signature lookup is a registry-error verdict, not a crash', async (t) => {
  const { createServer } = await import('node:http');
  let mode: 'garbage' | '500' = '500';
  const upstream = registry.url;
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path.includes('.sig') || path.includes('/referrers/')) {
      if (mode === '500') {
        res.writeHead(500).end('boom');
      } else {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end('{not json');
      }
      return;
    }
    void fetch(new URL(path, upstream), {
      method: req.method ?? 'GET',
      headers: { accept: String(req.headers.accept ?? '*/*') },
    })
      .then(async (up) => {
        const headers: Record<string, string> = {};
        up.headers.forEach((v, k) => {
          if (k !== 'content-length' && k !== 'transfer-encoding') headers[k] = v;
        });
        res.writeHead(up.status, headers).end(Buffer.from(await up.arrayBuffer()));
      })
      .catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const host = `127.0.0.1:${port}`;
  const v500 = await check('app', 'ec', client(host), host);
  t.match(v500, { ok: false, code: 'registry-error' }, '5xx');
  mode = 'garbage';
  const vg = await check('app', 'ec', client(host), host);
  t.equal(vg.ok, false, 'garbage is never a pass');
});

t.test('verdicts are cached by digest; registry errors are not', async (t) => {
  const proxy = await startCountingProxy(registry.url);
  t.teardown(() => proxy.close());
  const cache = new VerdictCache(2);
  const c = client(proxy.host);
  const req = (tag: string) => ({
    registry: c,
    ref: parseImageReference(`${proxy.host}/app:${tag}`),
    digest: digests[`app:${tag}`]!,
    policy: policy(),
  });
  const first = await cache.get(req('ec'));
  const calls = proxy.requests.length;
  const again = await cache.get(req('ec'));
  t.same(again, first);
  t.equal(proxy.requests.length, calls, 'second ask answered from the cache');
  await cache.get(req('ed'));
  await cache.get(req('rsa'));
  t.equal(cache.size, 2, 'bounded');
});

t.test('the OCI 1.1 referrers API is used where the registry has it', async (t) => {
  // A registry with the API: referrers answered as the distribution spec documents (an image
  // index of descriptors with artifactType, filtered with OCI-Filters-Applied), the rest proxied.
  const { createServer } = await import('node:http');
  const keyless = buildImage();
  const digest = await push('api', 'good', keyless);
  const bundle = await sigstore.bundle({ digest, subject: SUBJECT, issuer: ISSUER });
  await pushBundle('api', keyless, bundle, false); // no referrers tag: only the API can find it
  const art = bundleReferrer(bundle, {
    digest,
    size: keyless.manifest.size,
    mediaType: keyless.manifest.mediaType,
  });
  const asked: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === `/v2/api/referrers/${digest}`) {
      asked.push(url.search);
      const all = [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: art.manifest.digest,
          size: art.manifest.size,
          artifactType: BUNDLE_TYPE,
        },
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: digests['app:ec']!,
          size: 10,
          artifactType: 'application/spdx+json',
        },
      ];
      const type = url.searchParams.get('artifactType');
      res
        .writeHead(200, {
          'content-type': 'application/vnd.oci.image.index.v1+json',
          ...(type ? { 'oci-filters-applied': 'artifactType' } : {}),
        })
        .end(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests: type ? all.filter((m) => m.artifactType === type) : all,
          }),
        );
      return;
    }
    void fetch(new URL(url.pathname + url.search, registry.url), {
      method: req.method ?? 'GET',
      headers: { accept: String(req.headers.accept ?? '*/*') },
    })
      .then(async (up) => {
        const headers: Record<string, string> = {};
        up.headers.forEach((v, k) => {
          if (k !== 'content-length' && k !== 'transfer-encoding') headers[k] = v;
        });
        res.writeHead(up.status, headers).end(Buffer.from(await up.arrayBuffer()));
      })
      .catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  const c = client(host);
  const ref = parseImageReference(`${host}/api:good`);
  const found = await c.getReferrers(ref, digest, { artifactType: BUNDLE_TYPE });
  t.equal(found.via, 'api');
  t.same(
    found.descriptors.map((d) => d.digest),
    [art.manifest.digest],
  );
  t.match(asked[0], /artifactType=application%2Fvnd\.dev\.sigstore\.bundle\.v0\.3%2Bjson/);
  digests[`api:good`] = digest;
  t.match(await check('api', 'good', c, host), { ok: true, signer: { kind: 'keyless', via: 'referrer' } });
  // The same image on distribution 2.8 without the referrers tag: nothing to find.
  t.match(await check('api', 'good'), { ok: false, code: 'no-signature' });
});
