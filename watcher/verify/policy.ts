import { createHash } from 'node:crypto';
import type { TrustMaterial } from '@sigstore/verify';
import { keyFingerprint } from './keys.ts';
import type { IdentityRule } from '../../shared/annotations.ts';
import type { TrustedKey, VerifyPolicy } from './types.ts';

/** A policy with a stable id: the same keys, rules and root give the same id (the cache key). */
export function buildPolicy(opts: {
  keys: readonly TrustedKey[];
  identities: readonly IdentityRule[];
  trustMaterial: TrustMaterial | undefined;
  /** Names the trusted root in the id (its file's hash). */
  trustedRootId?: string | undefined;
}): VerifyPolicy {
  const h = createHash('sha256');
  for (const k of opts.keys) h.update(`k:${keyFingerprint(k.key)}\n`);
  for (const r of opts.identities) h.update(`i:${r.issuer.source}\u0000${r.subject.source}\n`);
  h.update(`r:${opts.trustMaterial ? (opts.trustedRootId ?? 'root') : ''}`);
  return {
    keys: opts.keys,
    identities: opts.identities,
    trustMaterial: opts.trustMaterial,
    id: h.digest('hex').slice(0, 16),
  };
}
