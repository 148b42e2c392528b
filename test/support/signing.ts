// Writes signature artefacts in the documented formats (no cosign binary here): classic cosign
// `.sig` manifests over simple-signing payloads, and Sigstore bundles (DSSE in-toto statement,
// Fulcio-like certificate, Rekor-like log entry with an inclusion proof and promise) with the
// trusted root that vouches for them.
import { createHash, generateKeyPairSync, KeyObject, sign, webcrypto } from 'node:crypto';
import type { KeyPairKeyObjectResult } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from '@peculiar/x509';
import { dsse, json as sigJson } from '@sigstore/core';
import type { Blob, BuiltImage } from './images.ts';
import { makeBlob } from './images.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';

export function keyPair(type: 'ec' | 'ed25519' | 'rsa'): KeyPairKeyObjectResult {
  if (type === 'ec') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  return generateKeyPairSync('ed25519');
}

export function publicPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** The simple-signing payload cosign signs. */
export function simpleSigningPayload(reference: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': reference },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

export function signPayload(payload: Buffer, key: KeyObject): string {
  const algorithm = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return sign(algorithm, payload, key).toString('base64');
}

const emptyConfig = (): Blob => makeBlob(Buffer.from('{}'), EMPTY);

/** A cosign signature manifest: one layer per (payload, signature). */
export function cosignSignatureImage(layers: { payload: Buffer; signature: string }[]): BuiltImage {
  const config = makeBlob(Buffer.from('{}'), 'application/vnd.oci.image.config.v1+json');
  const blobs = layers.map((l) => makeBlob(l.payload, SIMPLE_SIGNING));
  const manifest = makeBlob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
        layers: blobs.map((b, i) => ({
          mediaType: SIMPLE_SIGNING,
          digest: b.digest,
          size: b.size,
          annotations: { 'dev.cosignproject.cosign/signature': layers[i]!.signature },
        })),
      }),
    ),
    OCI_MANIFEST,
  );
  return { manifest, blobs: [config, ...blobs], children: [] };
}

/** An OCI 1.1 artifact manifest carrying a bundle, about `subject`. */
export function bundleReferrer(
  bundle: unknown,
  subject: { digest: string; size: number; mediaType: string },
): BuiltImage {
  const config = emptyConfig();
  const layer = makeBlob(Buffer.from(JSON.stringify(bundle)), BUNDLE_TYPE);
  const manifest = makeBlob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: BUNDLE_TYPE,
        config: { mediaType: EMPTY, digest: config.digest, size: config.size },
        layers: [{ mediaType: BUNDLE_TYPE, digest: layer.digest, size: layer.size }],
        subject,
      }),
    ),
    OCI_MANIFEST,
  );
  return { manifest, blobs: [config, layer], children: [] };
}

/** The referrers tag schema's index (`sha256-<hex>`), as clients write it for registries without the API. */
export function referrersTagIndex(referrers: { manifest: Blob }[], artifactType = BUNDLE_TYPE): Blob {
  return makeBlob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: referrers.map((r) => ({
          mediaType: OCI_MANIFEST,
          digest: r.manifest.digest,
          size: r.manifest.size,
          artifactType,
        })),
      }),
    ),
    OCI_INDEX,
  );
}

const b64 = (b: Buffer | ArrayBuffer): string => Buffer.from(b as ArrayBuffer).toString('base64');
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

export interface TestSigstore {
  /** The trusted root JSON naming the test CA and log. */
  trustedRoot: unknown;
  /** A bundle for `digest` signed by a certificate for `subject` from `issuer`. */
  bundle(opts: {
    digest: string;
    subject: string;
    issuer: string;
    /** Log time in seconds; default now. Outside the certificate's validity means expired. */
    integratedTime?: number;
    /** Certificate validity; default an hour around now. */
    notBefore?: Date;
    notAfter?: Date;
    /** Sign with another CA than the trusted one. */
    untrustedCa?: boolean;
  }): Promise<unknown>;
}

async function makeCa(name: string): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}, O=test`,
    notBefore: new Date('2020-01-01T00:00:00Z'),
    notAfter: new Date('2040-01-01T00:00:00Z'),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys };
}

export async function createTestSigstore(): Promise<TestSigstore> {
  const ca = await makeCa('test fulcio');
  const rogue = await makeCa('rogue fulcio');
  const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rekorDer = rekor.publicKey.export({ type: 'spki', format: 'der' });
  const logId = sha256(rekorDer);
  const origin = 'rekor.test - 1';
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: 'https://rekor.test',
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: b64(rekorDer),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start: '2020-01-01T00:00:00Z' },
        },
        logId: { keyId: b64(logId) },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'test', commonName: 'test fulcio' },
        uri: 'https://fulcio.test',
        certChain: { certificates: [{ rawBytes: b64(ca.cert.rawData) }] },
        validFor: { start: '2020-01-01T00:00:00Z' },
      },
    ],
    ctlogs: [],
    timestampAuthorities: [],
  };

  return {
    trustedRoot,
    async bundle(opts) {
      const issuerCa = opts.untrustedCa ? rogue : ca;
      const now = Date.now();
      const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
      const leafKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: createHash('sha1').update(String(Math.random())).digest('hex').slice(0, 16),
        subject: 'O=sigstore.dev',
        issuer: issuerCa.cert.subject,
        notBefore: opts.notBefore ?? new Date(now - 3_600_000),
        notAfter: opts.notAfter ?? new Date(now + 3_600_000),
        signingAlgorithm: alg,
        publicKey: leafKeys.publicKey,
        signingKey: issuerCa.keys.privateKey,
        extensions: [
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.SubjectAlternativeNameExtension([{ type: 'url', value: opts.subject }], true),
          // Fulcio's v1 issuer extension: the raw issuer URL.
          new x509.Extension('1.3.6.1.4.1.57264.1.1', false, Buffer.from(opts.issuer)),
        ],
      });
      const statement = Buffer.from(
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v1',
          subject: [{ name: 'image', digest: { sha256: opts.digest.replace(/^sha256:/, '') } }],
          predicateType: 'https://sigstore.dev/cosign/sign/v1',
          predicate: {},
        }),
      );
      const payloadType = 'application/vnd.in-toto+json';
      const leafPrivate = KeyObject.from(leafKeys.privateKey);
      const sig = sign('sha256', dsse.preAuthEncoding(payloadType, statement), leafPrivate);
      const envelope = { payload: b64(statement), payloadType, signatures: [{ sig: b64(sig), keyid: '' }] };
      const body = Buffer.from(
        sigJson.canonicalize({
          apiVersion: '0.0.1',
          kind: 'dsse',
          spec: {
            envelopeHash: {
              algorithm: 'sha256',
              value: sha256(Buffer.from(JSON.stringify(envelope))).toString('hex'),
            },
            payloadHash: { algorithm: 'sha256', value: sha256(statement).toString('hex') },
            signatures: [{ signature: b64(sig), verifier: b64(Buffer.from(leaf.toString('pem'))) }],
          },
        }),
      );
      const integratedTime = opts.integratedTime ?? Math.floor(now / 1000);
      // A one-entry log: the root is the leaf hash, the proof has no hashes.
      const root = sha256(Buffer.concat([Buffer.from([0]), body]));
      const note = `${origin}\n1\n${b64(root)}\n`;
      const noteSig = sign('sha256', Buffer.from(note), rekor.privateKey);
      const checkpoint = `${note}\n\u2014 rekor.test ${b64(Buffer.concat([logId.subarray(0, 4), noteSig]))}\n`;
      const set = sign(
        'sha256',
        Buffer.from(
          sigJson.canonicalize({
            body: b64(body),
            integratedTime,
            logIndex: 0,
            logID: logId.toString('hex'),
          }),
        ),
        rekor.privateKey,
      );
      return {
        mediaType: BUNDLE_TYPE,
        verificationMaterial: {
          certificate: { rawBytes: b64(leaf.rawData) },
          tlogEntries: [
            {
              logIndex: '0',
              logId: { keyId: b64(logId) },
              kindVersion: { kind: 'dsse', version: '0.0.1' },
              integratedTime: String(integratedTime),
              inclusionPromise: { signedEntryTimestamp: b64(set) },
              inclusionProof: {
                logIndex: '0',
                rootHash: b64(root),
                treeSize: '1',
                hashes: [],
                checkpoint: { envelope: checkpoint },
              },
              canonicalizedBody: b64(body),
            },
          ],
          timestampVerificationData: { rfc3161Timestamps: [] },
        },
        dsseEnvelope: envelope,
      };
    },
  };
}
