// Sigstore bundle checks as pure functions over the bundle JSON (no registry).
import t from 'tap';
import { compileUserPattern } from '../../../shared/regex.ts';
import { parseTrustedRoot, verifyBundle } from '../../../watcher/verify/bundle.ts';
import { createTestSigstore } from '../../support/signing.ts';

const ISSUER = 'https://accounts.example.com';
const SUBJECT = 'https://ci.example.com/acme/app';
const D = `sha256:${'c'.repeat(64)}`;
const sigstore = await createTestSigstore();
const root = parseTrustedRoot(JSON.stringify(sigstore.trustedRoot), 'root.json');
const rules = [
  {
    issuer: compileUserPattern('^https://accounts\\.example\\.com$'),
    subject: compileUserPattern('^https://ci\\.example\\.com/acme/.*$'),
  },
];
const good = (await sigstore.bundle({ digest: D, subject: SUBJECT, issuer: ISSUER })) as Record<
  string,
  unknown
>;
type Loose = Record<string, Record<string, unknown>>;

function clone(): Loose {
  return JSON.parse(JSON.stringify(good)) as Loose;
}

t.test('a good bundle verifies and names the signer', (t) => {
  t.same(verifyBundle({ json: good, digest: D, trustMaterial: root, identities: rules }), {
    ok: true,
    signer: { kind: 'keyless', issuer: ISSUER, subject: SUBJECT, via: 'referrer' },
  });
  t.end();
});

t.test('broken bundles are refused with a code', (t) => {
  const tamperedSig = clone();
  const env = tamperedSig.dsseEnvelope as { signatures: { sig: string }[] };
  env.signatures[0]!.sig = Buffer.from('not the signature').toString('base64');
  const tamperedPayload = clone();
  (tamperedPayload.dsseEnvelope as { payload: string }).payload =
    Buffer.from('{"subject":[]}').toString('base64');
  const keyed = clone();
  keyed.verificationMaterial = { publicKey: { hint: 'abc' }, tlogEntries: [] };
  const notStatement = clone();
  (notStatement.dsseEnvelope as { payloadType: string }).payloadType = 'text/plain';
  const table = [
    { name: 'garbage', json: { hello: 1 }, code: 'bad-signature-data' },
    { name: 'not even an object', json: 'x', code: 'bad-signature-data' },
    { name: 'a changed signature', json: tamperedSig, code: 'bad-signature-data' },
    { name: 'a changed payload', json: tamperedPayload, code: 'bad-signature-data' },
    { name: 'a bare public key', json: keyed, code: 'bad-signature-data' },
  ];
  for (const row of table) {
    t.match(
      verifyBundle({ json: row.json, digest: D, trustMaterial: root, identities: rules }),
      { ok: false, code: row.code },
      row.name,
    );
  }
  t.match(
    verifyBundle({ json: good, digest: D, trustMaterial: undefined, identities: rules }),
    { ok: false, code: 'no-signature', message: /VERIFY_TRUSTED_ROOT/ },
    'no trusted root configured',
  );
  t.match(
    verifyBundle({ json: good, digest: D, trustMaterial: root, identities: [] }),
    { ok: false, code: 'identity-mismatch' },
    'no identity rule',
  );
  t.match(
    verifyBundle({ json: notStatement, digest: D, trustMaterial: root, identities: rules }),
    { ok: false },
    'a payload type other than in-toto is never a pass',
  );
  t.end();
});

t.test('trusted roots', (t) => {
  t.throws(() => parseTrustedRoot('[]', 'r.json'), { code: 'E_VERIFY_TRUSTED_ROOT' });
  t.throws(() => parseTrustedRoot('{"mediaType":"x"}', 'r.json'), {
    message: /names no certificate authority/,
  });
  t.end();
});
