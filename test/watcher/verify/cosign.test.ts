// The classic cosign checks as pure functions (no registry): what the signed bytes must say.
import t from 'tap';
import { checkPayload, signatureLayers } from '../../../watcher/verify/cosign.ts';
import { parsePublicKeys } from '../../../watcher/verify/keys.ts';
import { keyPair, publicPem, signPayload, simpleSigningPayload } from '../../support/signing.ts';

const ec = keyPair('ec');
const keys = parsePublicKeys(publicPem(ec.publicKey), 'team.pub');
const D = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;

t.test('payload checks', (t) => {
  const signed = (ref: string, digest: string) => {
    const payload = simpleSigningPayload(ref, digest);
    return { payload, sig: signPayload(payload, ec.privateKey) };
  };
  const table = [
    {
      name: 'matching digest and repository',
      input: signed('ghcr.io/acme/app', D),
      ref: 'ghcr.io/acme/app',
      want: { ok: true },
    },
    {
      name: 'a tag in the signed reference is ignored',
      input: signed('ghcr.io/acme/app:1.0', D),
      ref: 'ghcr.io/acme/app',
      want: { ok: true },
    },
    {
      name: 'Docker Hub short names are normalised',
      input: signed('nginx', D),
      ref: 'docker.io/library/nginx',
      want: { ok: true },
    },
    {
      name: 'another digest',
      input: signed('ghcr.io/acme/app', OTHER),
      ref: 'ghcr.io/acme/app',
      want: { ok: false, code: 'digest-mismatch' },
    },
    {
      name: 'another repository',
      input: signed('ghcr.io/acme/app-evil', D),
      ref: 'ghcr.io/acme/app',
      want: { ok: false, code: 'identity-mismatch' },
    },
    {
      name: 'another registry',
      input: signed('evil.io/acme/app', D),
      ref: 'ghcr.io/acme/app',
      want: { ok: false, code: 'identity-mismatch' },
    },
  ];
  for (const row of table) {
    t.match(
      checkPayload(row.input.payload, row.input.sig, { digest: D, expectedReference: row.ref, keys }),
      row.want,
      row.name,
    );
  }
  const good = signed('ghcr.io/acme/app', D);
  t.match(
    checkPayload(good.payload, 'not base64!', { digest: D, expectedReference: 'ghcr.io/acme/app', keys }),
    { ok: false, code: 'bad-signature-data' },
    'a signature that is not base64',
  );
  t.match(
    checkPayload(good.payload, good.sig, { digest: D, expectedReference: 'ghcr.io/acme/app', keys: [] }),
    { ok: false, code: 'wrong-key', message: /none configured/ },
    'no trusted key',
  );
  const notJson = Buffer.from('hello');
  t.match(
    checkPayload(notJson, signPayload(notJson, ec.privateKey), { digest: D, expectedReference: 'x/y', keys }),
    { ok: false, code: 'bad-signature-data' },
    'signed bytes that are not a payload',
  );
  t.end();
});

t.test('signature manifests', (t) => {
  t.match(signatureLayers({ manifests: [] }), { ok: false, code: 'bad-signature-data' });
  t.match(signatureLayers({ layers: [{ digest: D }] }), { ok: false, code: 'no-signature' });
  t.same(
    signatureLayers({
      layers: [{ digest: D, annotations: { 'dev.cosignproject.cosign/signature': 'c2ln' } }],
    }),
    [{ digest: D, signature: 'c2ln' }],
  );
  t.end();
});

t.test('key files', (t) => {
  t.throws(() => parsePublicKeys('nothing here', 'a.pem'), {
    code: 'E_VERIFY_KEY',
    message: /a\.pem holds no PEM public key/,
  });
  const priv = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  t.throws(() => parsePublicKeys(priv, 'a.pem'), { message: /PRIVATE KEY block; only public keys/ });
  t.throws(() => parsePublicKeys('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'a.pem'), {
    message: /cannot be read/,
  });
  const two = parsePublicKeys(publicPem(ec.publicKey) + publicPem(keyPair('rsa').publicKey), 'k');
  t.same(
    two.map((k) => k.name),
    ['k', 'k #2'],
  );
  t.end();
});
