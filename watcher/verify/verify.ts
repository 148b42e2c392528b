import type { ImageReference } from '../../shared/image-ref.ts';
import { canonicalName } from '../../shared/image-ref.ts';
import { RegistryError } from '../registry/errors.ts';
import type { RegistryArtifacts, RegistryCredentials } from '../registry/types.ts';
import { BUNDLE_ARTIFACT_TYPE, verifyBundle } from './bundle.ts';
import { MAX_PAYLOAD_BYTES, signatureTag, verifyCosignManifest } from './cosign.ts';
import type { Verdict, VerifyPolicy } from './types.ts';
import { worst } from './types.ts';

type Failure = Extract<Verdict, { ok: false }>;

/** Bundles read per digest (a busy image may have many attestations of other kinds too). */
const MAX_BUNDLES = 8;
const MAX_BUNDLE_BYTES = 1024 * 1024;

export interface VerifyRequest {
  registry: RegistryArtifacts;
  ref: ImageReference;
  /** The digest that would be deployed (for an index, the index digest). */
  digest: string;
  policy: VerifyPolicy;
  credentials?: RegistryCredentials | undefined;
  signal?: AbortSignal | undefined;
}

function registryFailure(err: unknown, what: string): Failure {
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, code: 'registry-error', message: `cannot read ${what}: ${message}` };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The `.sig` tag: undefined when there is none. */
async function classic(req: VerifyRequest): Promise<Verdict | undefined> {
  const { registry, ref, digest, policy } = req;
  const opts = { credentials: req.credentials, signal: req.signal };
  let manifest;
  try {
    manifest = await registry.getManifest(ref, signatureTag(digest), opts);
  } catch (err) {
    if (err instanceof RegistryError && err.code === 'E_REGISTRY_NOT_FOUND') return undefined;
    return registryFailure(err, 'the cosign signature tag');
  }
  if (policy.keys.length === 0) {
    return {
      ok: false,
      code: 'wrong-key',
      message: 'a cosign signature was found but no key is trusted (verify-key or VERIFY_KEYS_FILE)',
    };
  }
  try {
    return await verifyCosignManifest({
      manifest: parseJson(manifest.body),
      digest,
      expectedReference: canonicalName(ref),
      keys: policy.keys,
      fetchPayload: (d) => registry.getBlob(ref, d, { ...opts, maxBytes: MAX_PAYLOAD_BYTES }),
    });
  } catch (err) {
    return registryFailure(err, 'a cosign signature payload');
  }
}

/** Sigstore bundles among the referrers: undefined when there are none. */
async function referrers(req: VerifyRequest): Promise<Verdict | undefined> {
  const { registry, ref, digest, policy } = req;
  const opts = { credentials: req.credentials, signal: req.signal };
  let found;
  try {
    found = await registry.getReferrers(ref, digest, { ...opts, artifactType: BUNDLE_ARTIFACT_TYPE });
  } catch (err) {
    return registryFailure(err, 'the referrers');
  }
  if (found.descriptors.length === 0) return undefined;
  const failures: Failure[] = [];
  for (const d of found.descriptors.slice(0, MAX_BUNDLES)) {
    try {
      const m = await registry.getManifest(ref, d.digest, opts);
      const body = parseJson(m.body) as
        { subject?: { digest?: unknown }; layers?: { digest?: unknown; mediaType?: unknown }[] } | undefined;
      // The referrer must say it is about this digest: a listing is only an index.
      if (body?.subject?.digest !== digest) {
        failures.push({
          ok: false,
          code: 'digest-mismatch',
          message: `a bundle listed for ${digest.slice(0, 19)}… names another subject`,
        });
        continue;
      }
      const layer = body.layers?.find((l) => typeof l.digest === 'string');
      if (!layer || typeof layer.digest !== 'string') {
        failures.push({ ok: false, code: 'bad-signature-data', message: 'a bundle manifest has no layer' });
        continue;
      }
      const blob = await registry.getBlob(ref, layer.digest, { ...opts, maxBytes: MAX_BUNDLE_BYTES });
      const v = verifyBundle({
        json: parseJson(blob),
        digest,
        trustMaterial: policy.trustMaterial,
        identities: policy.identities,
      });
      if (v.ok) return v;
      failures.push(v);
    } catch (err) {
      failures.push(registryFailure(err, 'a Sigstore bundle'));
    }
  }
  return worst(failures);
}

/**
 * Does a trusted key or identity vouch for `digest`? Classic `.sig` tags and Sigstore bundle
 * referrers are both looked at; the first that verifies wins. Never throws: registry trouble is
 * the verdict `registry-error` (held, asked again later).
 */
export async function verifySignature(req: VerifyRequest): Promise<Verdict> {
  try {
    const results = await Promise.all([classic(req), referrers(req)]);
    const ok = results.find((r): r is Extract<Verdict, { ok: true }> => r?.ok === true);
    if (ok) return ok;
    const failures = results.filter((r): r is Failure => r !== undefined);
    if (failures.length === 0) {
      return {
        ok: false,
        code: 'no-signature',
        message: `no signature found for ${canonicalName(req.ref)}@${req.digest.slice(0, 19)}… (no ${signatureTag(req.digest).slice(0, 15)}….sig tag, no Sigstore bundle referrer)`,
      };
    }
    return worst(failures);
  } catch (err) {
    return registryFailure(err, 'the signatures');
  }
}

/** Verdicts by `policy|registry/repository@digest`, oldest dropped first. Registry errors are not kept. */
export class VerdictCache {
  readonly #max: number;
  readonly #entries = new Map<string, Verdict>();
  readonly #inFlight = new Map<string, Promise<Verdict>>();
  constructor(max = 2048) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Cached verdict or a fresh one; concurrent asks for one digest share one verification. */
  get(
    req: VerifyRequest,
    compute: (req: VerifyRequest) => Promise<Verdict> = verifySignature,
  ): Promise<Verdict> {
    const key = `${req.policy.id}|${canonicalName(req.ref)}@${req.digest}`;
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return Promise.resolve(hit);
    }
    const running = this.#inFlight.get(key);
    if (running) return running;
    const p = compute(req)
      .then((v) => {
        if (v.ok || v.code !== 'registry-error') {
          this.#entries.set(key, v);
          while (this.#entries.size > this.#max) {
            const oldest = this.#entries.keys().next().value;
            if (oldest === undefined) break;
            this.#entries.delete(oldest);
          }
        }
        return v;
      })
      .finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, p);
    return p;
  }
}
