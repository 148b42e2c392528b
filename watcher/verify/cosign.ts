// Classic cosign signatures: the tag `sha256-<hex>.sig` holds a manifest whose layers are
// simple-signing payloads, each with its signature in the `dev.cosignproject.cosign/signature`
// annotation (github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md).
import { verify as cryptoVerify } from 'node:crypto';
import type { TrustedKey, Verdict } from './types.ts';
import { worst } from './types.ts';

export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** Layers read per signature manifest, and bytes per payload: a payload is a few hundred bytes. */
export const MAX_SIGNATURE_LAYERS = 16;
export const MAX_PAYLOAD_BYTES = 64 * 1024;

type Failure = Extract<Verdict, { ok: false }>;

export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

interface Layer {
  digest: string;
  signature: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The signed layers of a signature manifest, or a failure when it is not one. */
export function signatureLayers(manifest: unknown): Layer[] | Failure {
  if (!isRecord(manifest) || !Array.isArray(manifest.layers)) {
    return { ok: false, code: 'bad-signature-data', message: 'the signature tag holds no image manifest' };
  }
  const layers: Layer[] = [];
  for (const l of manifest.layers.slice(0, MAX_SIGNATURE_LAYERS) as unknown[]) {
    if (!isRecord(l) || typeof l.digest !== 'string' || !isRecord(l.annotations)) continue;
    const sig = l.annotations[COSIGN_SIGNATURE_ANNOTATION];
    if (typeof sig === 'string') layers.push({ digest: l.digest, signature: sig });
  }
  if (layers.length === 0) {
    return {
      ok: false,
      code: 'no-signature',
      message: `the signature tag has no layer with the ${COSIGN_SIGNATURE_ANNOTATION} annotation`,
    };
  }
  return layers;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The trusted key whose signature over `payload` verifies, if any. */
export function keyThatSigned(
  payload: Buffer,
  signature: Buffer,
  keys: readonly TrustedKey[],
): TrustedKey | undefined {
  return keys.find((k) => {
    // Ed25519 signs the message itself; ECDSA (DER) and RSA PKCS#1 v1.5 over its SHA-256.
    const algorithm = k.key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
    try {
      return cryptoVerify(algorithm, payload, k.key, signature);
    } catch {
      return false;
    }
  });
}

/**
 * Checks one payload: signed by a trusted key first, then only what the signed bytes say is
 * believed (digest and repository). `expectedReference` is `registry/repository`.
 */
export function checkPayload(
  payload: Buffer,
  signatureB64: string,
  opts: { digest: string; expectedReference: string; keys: readonly TrustedKey[] },
): Verdict {
  const sigText = signatureB64.trim();
  if (!BASE64.test(sigText)) {
    return {
      ok: false,
      code: 'bad-signature-data',
      message: 'the cosign signature annotation is not base64',
    };
  }
  const key = keyThatSigned(payload, Buffer.from(sigText, 'base64'), opts.keys);
  if (!key) {
    return {
      ok: false,
      code: 'wrong-key',
      message: `the cosign signature does not verify with any trusted key (${opts.keys.map((k) => k.name).join(', ') || 'none configured'})`,
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, code: 'bad-signature-data', message: 'the signed payload is not JSON' };
  }
  const critical = isRecord(body) && isRecord(body.critical) ? body.critical : undefined;
  const image = critical && isRecord(critical.image) ? critical.image : undefined;
  const identity = critical && isRecord(critical.identity) ? critical.identity : undefined;
  const signedDigest = image?.['docker-manifest-digest'];
  const signedRef = identity?.['docker-reference'];
  if (typeof signedDigest !== 'string' || typeof signedRef !== 'string') {
    return {
      ok: false,
      code: 'bad-signature-data',
      message: 'the signed payload is not a simple-signing payload (no critical.image or critical.identity)',
    };
  }
  if (signedDigest !== opts.digest) {
    return {
      ok: false,
      code: 'digest-mismatch',
      message: `the signature by ${key.name} is for another image (${signedDigest.slice(0, 19)}…), not ${opts.digest.slice(0, 19)}…`,
    };
  }
  if (!sameRepository(signedRef, opts.expectedReference)) {
    return {
      ok: false,
      code: 'identity-mismatch',
      message: `the signature by ${key.name} is for repository ${signedRef.slice(0, 200)}, not ${opts.expectedReference}`,
    };
  }
  return { ok: true, signer: { kind: 'key', key: key.name, via: 'cosign-tag' } };
}

/** cosign writes the repository without tag or digest; Docker Hub's short names are normalised. */
function sameRepository(signed: string, expected: string): boolean {
  const strip = (r: string) => r.replace(/@sha256:[a-f0-9]{64}$/, '').replace(/:[\w][\w.-]{0,127}$/, '');
  const norm = (r: string) => {
    const s = strip(r);
    if (s.startsWith('index.docker.io/')) return `docker.io/${s.slice(16)}`;
    if (!s.includes('/')) return `docker.io/library/${s}`;
    const first = s.slice(0, s.indexOf('/'));
    if (!first.includes('.') && !first.includes(':') && first !== 'localhost') return `docker.io/${s}`;
    return s;
  };
  return norm(signed) === norm(expected);
}

/** Every signed layer of the manifest, until one verifies; the most telling failure else. */
export async function verifyCosignManifest(opts: {
  manifest: unknown;
  digest: string;
  expectedReference: string;
  keys: readonly TrustedKey[];
  fetchPayload: (digest: string) => Promise<Buffer>;
}): Promise<Verdict> {
  const layers = signatureLayers(opts.manifest);
  if (!Array.isArray(layers)) return layers;
  const failures: Failure[] = [];
  for (const layer of layers) {
    const payload = await opts.fetchPayload(layer.digest);
    const v = checkPayload(payload, layer.signature, opts);
    if (v.ok) return v;
    failures.push(v);
  }
  return worst(failures);
}
