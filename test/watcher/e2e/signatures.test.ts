// Signature gate end to end: createWatcher (the production wiring), the fake API server through
// client-node (the verify-key Secret read as in a cluster) and the real docker-registry holding
// cosign signatures and Sigstore bundles written in their documented formats.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { signatureTag } from '../../../watcher/verify/cosign.ts';
import { buildImage } from '../../support/images.ts';
import type { BuiltImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, pushManifest, startRegistry } from '../../support/registry.ts';
import {
  bundleReferrer,
  cosignSignatureImage,
  createTestSigstore,
  keyPair,
  publicPem,
  referrersTagIndex,
  signPayload,
  simpleSigningPayload,
} from '../../support/signing.ts';
import { annotationsOf, deployment, fakeKube, imageOf, startWatcher } from './support.ts';

let registry: RunningRegistry;
/** Digests of the signed 1.1.0 of each repository. */
const signed: Record<string, string> = {};
let dir: string;
let broken: { host: string; close(): Promise<void> };
const team = keyPair('ec');
const cluster = keyPair('ed25519');
const ISSUER = 'https://token.actions.githubusercontent.com';
const GOOD = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const EVIL = 'https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/main';

async function push(repo: string, tag: string, image: BuiltImage = buildImage()): Promise<string> {
  return pushImage(registry.url, repo, [tag], image);
}

async function cosignSign(repo: string, digest: string, key = team.privateKey): Promise<void> {
  const payload = simpleSigningPayload(`${registry.host}/${repo}`, digest);
  await pushImage(
    registry.url,
    repo,
    [signatureTag(digest)],
    cosignSignatureImage([{ payload, signature: signPayload(payload, key) }]),
  );
}

t.before(async () => {
  registry = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'iw-verify-'));
  const sigstore = await createTestSigstore();
  // app: 1.1.0 signed by the team key, 1.2.0 (newest) unsigned.
  await push('shop/app', '1.0.0');
  signed['app'] = await push('shop/app', '1.1.0');
  await cosignSign('shop/app', signed['app']);
  await push('shop/app', '1.2.0');
  // lib: 1.2.0 signed, but by a key nobody trusts; 1.1.0 by the cluster key.
  await push('shop/lib', '1.0.0');
  signed['lib'] = await push('shop/lib', '1.1.0');
  await cosignSign('shop/lib', signed['lib'], cluster.privateKey);
  await cosignSign('shop/lib', await push('shop/lib', '1.2.0'), keyPair('ec').privateKey);
  // keyless: bundles through the referrers tag schema; 1.2.0's signer is not allowed.
  await push('shop/keyless', '1.0.0');
  for (const [tag, subject] of [
    ['1.1.0', GOOD],
    ['1.2.0', EVIL],
  ] as const) {
    const img = buildImage();
    const digest = await push('shop/keyless', tag, img);
    if (tag === '1.1.0') signed['keyless'] = digest;
    const art = bundleReferrer(await sigstore.bundle({ digest, subject, issuer: ISSUER }), {
      digest,
      size: img.manifest.size,
      mediaType: img.manifest.mediaType,
    });
    await pushImage(registry.url, 'shop/keyless', [], art);
    await pushManifest(registry.url, 'shop/keyless', art.manifest.digest, art.manifest);
    await pushManifest(registry.url, 'shop/keyless', digest.replace(':', '-'), referrersTagIndex([art]));
  }
  // flaky: signed, but reached through a proxy that answers every signature lookup with 500.
  await push('shop/flaky', '1.0.0');
  await cosignSign('shop/flaky', await push('shop/flaky', '1.1.0'));
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path.includes('.sig') || path.includes('/referrers/') || /\/manifests\/sha256-/.test(path)) {
      res.writeHead(500).end('boom');
      return;
    }
    void fetch(new URL(path, registry.url), {
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
  broken = {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  await writeFile(join(dir, 'keys.pem'), publicPem(cluster.publicKey));
  await writeFile(join(dir, 'root.json'), JSON.stringify(sigstore.trustedRoot));
});
t.teardown(async () => {
  await broken.close();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

const AUTO = { 'image-watcher/mode': 'AUTO_UPDATE' };

t.test('only verified versions are applied; newer unverified ones are held with the reason', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'cosign-pub', namespace: 'shop' },
      data: { 'cosign.pub': Buffer.from(publicPem(team.publicKey)).toString('base64') },
    },
    deployment('app', `${registry.host}/shop/app:1.0.0`, {
      ...AUTO,
      'image-watcher/verify': 'cosign',
      'image-watcher/verify-key': 'secret/cosign-pub',
    }),
    // Verification from the cluster default (VERIFY_SIGNATURES) and the cluster key file.
    deployment('lib', `${registry.host}/shop/lib:1.0.0`, AUTO),
    deployment('keyless', `${registry.host}/shop/keyless:1.0.0`, {
      ...AUTO,
      'image-watcher/verify-identity': `issuer=https://token\\.actions\\.githubusercontent\\.com subject=https://github\\.com/acme/.*`,
    }),
    deployment('flaky', `${broken.host}/shop/flaky:1.0.0`, AUTO),
  );
  const w = await startWatcher(t.teardown.bind(t), kube, {
    env: {
      VERIFY_SIGNATURES: 'cosign',
      VERIFY_KEYS_FILE: join(dir, 'keys.pem'),
      VERIFY_TRUSTED_ROOT: join(dir, 'root.json'),
    },
  });
  await w.controller.runCycle();
  await w.controller.idle();

  // Applied as tag@digest: the digest that verified, whatever the tag points at later.
  const image = (name: string) => imageOf(kube.get('Deployment', 'shop', name));
  t.equal(
    image('app'),
    `${registry.host}/shop/app:1.1.0@${signed['app']}`,
    'the signed 1.1.0, not the unsigned 1.2.0',
  );
  t.equal(
    image('lib'),
    `${registry.host}/shop/lib:1.1.0@${signed['lib']}`,
    'signed by the cluster key; 1.2.0 by a stranger',
  );
  t.equal(
    image('keyless'),
    `${registry.host}/shop/keyless:1.1.0@${signed['keyless']}`,
    'allowed identity; 1.2.0 signer refused',
  );
  t.equal(image('flaky'), `${broken.host}/shop/flaky:1.0.0`, 'a 5xx on the lookup is never a pass');
  t.equal(annotationsOf(kube.get('Deployment', 'shop', 'app'))['image-watcher/current-version'], '1.1.0');

  const views = new Map(w.controller.workloads().map((v) => [v.name, v.containers[0]]));
  t.match(views.get('app')?.held, {
    reason: 'signature',
    version: '1.2.0',
    message: /no-signature/,
  });
  t.match(views.get('lib')?.held, { reason: 'signature', version: '1.2.0', message: /wrong-key/ });
  t.match(views.get('keyless')?.held, {
    reason: 'signature',
    version: '1.2.0',
    message: /identity-mismatch: .*mallory/,
  });
  t.match(views.get('flaky')?.held, { reason: 'signature', message: /registry-error/ });

  // A second pass with the pinned images: nothing more is written, 1.2.0 still held.
  const patches = kube.requestsMatching({ method: 'PATCH' }).length;
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(kube.requestsMatching({ method: 'PATCH' }).length, patches, 'the next pass writes nothing');
  t.equal(image('app'), `${registry.host}/shop/app:1.1.0@${signed['app']}`);
  t.match(w.controller.workloads().find((v) => v.name === 'app')?.containers[0]?.held, { version: '1.2.0' });

  const metrics = await w.metricsText();
  t.match(metrics, /image_watcher_signature_checks_total\{result="verified"\} [3-9]/);
  t.match(metrics, /image_watcher_signature_checks_total\{result="no-signature"\} 1/);
  t.match(metrics, /image_watcher_signature_checks_total\{result="registry-error"\} [1-9]/);
});

t.test('a missing verify-key Secret holds, it does not pass or crash', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(
    deployment('app', `${registry.host}/shop/app:1.0.0`, {
      ...AUTO,
      'image-watcher/verify': 'cosign',
      'image-watcher/verify-key': 'secret/missing',
    }),
    deployment('plain', `${registry.host}/shop/app:1.0.0`, AUTO),
  );
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(imageOf(kube.get('Deployment', 'shop', 'app')), `${registry.host}/shop/app:1.0.0`);
  t.equal(
    imageOf(kube.get('Deployment', 'shop', 'plain')),
    `${registry.host}/shop/app:1.2.0`,
    'verification off (VERIFY_SIGNATURES unset): the newest',
  );
  const app = w.controller.workloads().find((v) => v.name === 'app')?.containers[0];
  t.match(app?.held, { reason: 'signature', message: /Secret shop\/missing .*does not exist/ });
});
