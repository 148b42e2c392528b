// The `signature` candidate gate: a candidate is chosen only when a trusted key or identity
// signed its digest (for an index, the index digest); otherwise it is held with the reason.
import type { Logger } from 'pino';
import type { TrustMaterial } from '@sigstore/verify';
import type { WatchSettings } from '../../shared/annotations.ts';
import { canonicalName, parseImageReference } from '../../shared/image-ref.ts';
import type { CandidateGate, GateResult } from '../check/gates.ts';
import type { RegistryArtifacts } from '../registry/types.ts';
import type { KeySource } from './key-source.ts';
import { objectName } from './key-source.ts';
import { buildPolicy } from './policy.ts';
import type { TrustedKey } from './types.ts';
import { describeSigner } from './types.ts';
import { VerdictCache, verifySignature } from './verify.ts';

export interface SignatureGateOptions {
  registry: RegistryArtifacts;
  keys: KeySource;
  /** VERIFY_SIGNATURES: for workloads without `image-watcher/verify`. */
  defaultMode: 'none' | 'cosign';
  /** VERIFY_KEYS_FILE's keys: trusted for every workload. */
  clusterKeys: readonly TrustedKey[];
  /** VERIFY_TRUSTED_ROOT, parsed, and an id for it (its file's hash). */
  trustMaterial: TrustMaterial | undefined;
  trustedRootId?: string | undefined;
  metrics?: { observeSignatureCheck(result: string): void };
  logger?: Logger;
  cache?: VerdictCache;
}

export interface SignatureGate extends CandidateGate {
  /** Who signed `version` of `image` when it last verified (the approval page shows it). */
  signerOf(image: string, version: string): string | undefined;
}

const MAX_SIGNERS = 4096;

export function createSignatureGate(o: SignatureGateOptions): SignatureGate {
  const cache = o.cache ?? new VerdictCache();
  const signers = new Map<string, string>();
  const remember = (key: string, who: string) => {
    signers.delete(key);
    signers.set(key, who);
    if (signers.size > MAX_SIGNERS) signers.delete(signers.keys().next().value!);
  };
  const mode = (s: WatchSettings) => s.verify ?? (o.defaultMode === 'cosign' ? 'cosign' : undefined);
  const held = (message: string): GateResult => ({ ok: false, held: { reason: 'signature', message } });
  return {
    reason: 'signature',
    pinsDigest: true,
    applies: (settings) => mode(settings) === 'cosign',
    // A rotated key or changed rule must not reuse answers given under the old ones.
    key: ({ namespace, settings }) =>
      [
        settings.verifyKey
          ? `${objectName(namespace, settings.verifyKey)}=${o.keys.lastId(namespace, settings.verifyKey) ?? '?'}`
          : '',
        (settings.verifyIdentity ?? [])
          .map((r) => `${r.issuer.source}\u0000${r.subject.source}`)
          .join('\u0001'),
      ].join('|'),
    async check(subject, ctx) {
      const { settings, namespace, ref, digest, tag } = subject;
      let keys: TrustedKey[] = [...o.clusterKeys];
      if (settings.verifyKey) {
        try {
          keys = [...keys, ...(await o.keys.read(namespace, settings.verifyKey))];
        } catch (err) {
          o.metrics?.observeSignatureCheck('key-error');
          return held(`cannot read the trusted keys: ${(err as Error).message}`);
        }
      }
      const identities = settings.verifyIdentity ?? [];
      if (keys.length === 0 && identities.length === 0) {
        o.metrics?.observeSignatureCheck('key-error');
        return held(
          'signature verification is on but nothing is trusted: set image-watcher/verify-key, VERIFY_KEYS_FILE or image-watcher/verify-identity',
        );
      }
      const policy = buildPolicy({
        keys,
        identities,
        trustMaterial: o.trustMaterial,
        trustedRootId: o.trustedRootId,
      });
      let counted = false;
      const verdict = await cache.get(
        { registry: o.registry, ref, digest, policy, credentials: ctx.credentials, signal: ctx.signal },
        (req) => {
          counted = true;
          return verifySignature(req);
        },
      );
      if (counted) o.metrics?.observeSignatureCheck(verdict.ok ? 'verified' : verdict.code);
      if (verdict.ok) {
        const who = describeSigner(verdict.signer);
        remember(`${canonicalName(ref)}:${tag}`, who);
        return { ok: true, detail: `signed by ${who}` };
      }
      o.logger?.info(
        { image: canonicalName(ref), tag, digest, code: verdict.code },
        'candidate held: signature does not verify',
      );
      return held(`${tag} (${digest.slice(0, 19)}…): ${verdict.code}: ${verdict.message}`);
    },
    signerOf(image, version) {
      try {
        const ref = parseImageReference(image);
        const tag = version.split('@')[0]!;
        return signers.get(`${canonicalName(ref)}:${tag}`);
      } catch {
        return undefined;
      }
    },
  };
}
