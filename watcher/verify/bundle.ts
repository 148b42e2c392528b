// Sigstore bundles (OCI 1.1 referrers with artifactType application/vnd.dev.sigstore.bundle.v0.3+json),
// verified offline by @sigstore/verify against the trusted root (VERIFY_TRUSTED_ROOT).
import { bundleFromJSON, isBundleWithDsseEnvelope } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier, VerificationError } from '@sigstore/verify';
import type { Signer, TrustMaterial } from '@sigstore/verify';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { IdentityRule, Verdict } from './types.ts';

export const BUNDLE_ARTIFACT_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const IN_TOTO = 'application/vnd.in-toto+json';

type Failure = Extract<Verdict, { ok: false }>;

export class TrustedRootError extends ImageWatcherError {
  constructor(message: string) {
    super('E_VERIFY_TRUSTED_ROOT', message);
  }
}

/** The Sigstore trusted root JSON (as `cosign trusted-root create` or TUF write it). */
export function parseTrustedRoot(text: string, name: string): TrustMaterial {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TrustedRootError(`${name} is not JSON (want a Sigstore trusted root)`);
  }
  try {
    const root = TrustedRoot.fromJSON(json);
    if (root.certificateAuthorities.length === 0 && root.tlogs.length === 0) {
      throw new TrustedRootError(`${name} names no certificate authority and no transparency log`);
    }
    return toTrustMaterial(root);
  } catch (err) {
    if (err instanceof TrustedRootError) throw err;
    throw new TrustedRootError(`${name} is not a Sigstore trusted root: ${(err as Error).message}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mapError(err: unknown): Failure {
  if (err instanceof VerificationError) {
    // The chain check wraps the reason (expired, untrusted) in its cause.
    const cause: unknown = err.cause;
    const msg = cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
    if (err.code === 'CERTIFICATE_ERROR' && /expired|not valid/i.test(msg)) {
      return {
        ok: false,
        code: 'expired-certificate',
        message: `the bundle's certificate was not valid when the log recorded the signature (${msg})`,
      };
    }
    if (err.code === 'CERTIFICATE_ERROR') {
      return {
        ok: false,
        code: 'wrong-key',
        message: `the bundle's certificate was not issued by a trusted certificate authority (${msg})`,
      };
    }
    if (err.code === 'SIGNATURE_ERROR') {
      return { ok: false, code: 'wrong-key', message: "the bundle's signature does not verify with its key" };
    }
    return {
      ok: false,
      code: 'bad-signature-data',
      message: `the bundle does not verify: ${err.code} ${msg}`,
    };
  }
  return {
    ok: false,
    code: 'bad-signature-data',
    message: `the bundle cannot be read: ${err instanceof Error ? err.message.slice(0, 200) : 'unknown error'}`,
  };
}

/** Digests (hex, sha256) the in-toto statement in the envelope is about. */
function statementSubjects(bundle: Bundle): string[] | undefined {
  if (!isBundleWithDsseEnvelope(bundle)) return undefined;
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== IN_TOTO) return undefined;
  let statement: unknown;
  try {
    statement = JSON.parse(env.payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(statement) || !Array.isArray(statement.subject)) return undefined;
  const out: string[] = [];
  for (const s of statement.subject as unknown[]) {
    if (isRecord(s) && isRecord(s.digest) && typeof s.digest.sha256 === 'string') out.push(s.digest.sha256);
  }
  return out;
}

function matchIdentity(signer: Signer, rules: readonly IdentityRule[]): Verdict {
  const issuer = signer.identity?.extensions?.issuer;
  const subject = signer.identity?.subjectAlternativeName;
  const rule = rules.find(
    (r) => issuer !== undefined && subject !== undefined && r.issuer.test(issuer) && r.subject.test(subject),
  );
  if (!rule) {
    return {
      ok: false,
      code: 'identity-mismatch',
      message: `the bundle is signed by ${subject ?? 'an unknown subject'} (issuer ${issuer ?? 'unknown'}), which no verify-identity rule allows`,
    };
  }
  return { ok: true, signer: { kind: 'keyless', issuer, subject, via: 'referrer' } };
}

/**
 * One bundle for `digest`: it must verify against the trusted root (certificate chain, log
 * entry, signature), be a statement about this digest, and come from an allowed identity.
 */
export function verifyBundle(opts: {
  json: unknown;
  digest: string;
  trustMaterial: TrustMaterial | undefined;
  identities: readonly IdentityRule[];
}): Verdict {
  if (!opts.trustMaterial) {
    return {
      ok: false,
      code: 'no-signature',
      message: 'a Sigstore bundle was found but no trusted root is configured (VERIFY_TRUSTED_ROOT)',
    };
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(opts.json);
  } catch (err) {
    return mapError(err);
  }
  if (bundle.verificationMaterial.content.$case === 'publicKey') {
    return {
      ok: false,
      code: 'bad-signature-data',
      message: 'bundles signed with a bare key are not supported',
    };
  }
  let signer: Signer;
  try {
    const verifier = new Verifier(opts.trustMaterial, {
      tlogThreshold: 1,
      timestampThreshold: 1,
      // Certificate transparency is checked when the root names CT logs.
      ctlogThreshold: opts.trustMaterial.ctlogs.length > 0 ? 1 : 0,
    });
    signer = verifier.verify(toSignedEntity(bundle));
  } catch (err) {
    return mapError(err);
  }
  const subjects = statementSubjects(bundle);
  if (subjects === undefined) {
    return {
      ok: false,
      code: 'bad-signature-data',
      message: 'the bundle holds no in-toto statement about an image (DSSE envelope)',
    };
  }
  const hex = opts.digest.replace(/^sha256:/, '');
  if (!subjects.includes(hex)) {
    return {
      ok: false,
      code: 'digest-mismatch',
      message: `the bundle is about another image (${subjects.map((s) => s.slice(0, 12)).join(', ') || 'no subject'}), not ${opts.digest.slice(0, 19)}…`,
    };
  }
  return matchIdentity(signer, opts.identities);
}
