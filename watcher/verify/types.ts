import type { KeyObject } from 'node:crypto';
import type { TrustMaterial } from '@sigstore/verify';
import type { IdentityRule } from '../../shared/annotations.ts';

/** A trusted public key and where it came from ("Secret app/cosign-pub key cosign.pub"). */
export interface TrustedKey {
  name: string;
  key: KeyObject;
}

export type { IdentityRule };

export interface VerifyPolicy {
  keys: readonly TrustedKey[];
  identities: readonly IdentityRule[];
  /** Sigstore trusted root (VERIFY_TRUSTED_ROOT): the CAs and logs keyless bundles are checked against. */
  trustMaterial: TrustMaterial | undefined;
  /** Stable id of the keys and rules: cached verdicts are only reused under the same policy. */
  id: string;
}

export const FAILURE_CODES = [
  'no-signature',
  'wrong-key',
  'digest-mismatch',
  'identity-mismatch',
  'expired-certificate',
  'bad-signature-data',
  'registry-error',
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

/** Who signed: a trusted key by name, or a certificate identity from a trusted root. */
export interface SignerInfo {
  kind: 'key' | 'keyless';
  /** Key name (kind key). */
  key?: string | undefined;
  /** Certificate issuer and subject (kind keyless). */
  issuer?: string | undefined;
  subject?: string | undefined;
  /** Where the signature was found. */
  via: 'cosign-tag' | 'referrer';
}

export type Verdict = { ok: true; signer: SignerInfo } | { ok: false; code: FailureCode; message: string };

/** One line for people: "key Secret shop/cosign (cosign.pub)" or "https://github.com/... (issuer ...)". */
export function describeSigner(s: SignerInfo): string {
  if (s.kind === 'key') return `key ${s.key ?? 'unknown'}`;
  return `${s.subject ?? 'unknown subject'} (issuer ${s.issuer ?? 'unknown'})`;
}

/** When several signatures fail, the most telling reason is reported. */
const RANK: readonly FailureCode[] = [
  'registry-error',
  'digest-mismatch',
  'identity-mismatch',
  'expired-certificate',
  'wrong-key',
  'bad-signature-data',
  'no-signature',
];

export function worst(failures: readonly Extract<Verdict, { ok: false }>[]): Extract<Verdict, { ok: false }> {
  let best: Extract<Verdict, { ok: false }> | undefined;
  for (const f of failures) if (!best || RANK.indexOf(f.code) < RANK.indexOf(best.code)) best = f;
  return best ?? { ok: false, code: 'no-signature', message: 'no signature found' };
}
