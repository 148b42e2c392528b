// The built-in candidate gates: minimum release age (`min-age`, MIN_RELEASE_AGE) and platform
// safety (a multi-platform image never moves to a candidate lacking one of its platforms).
import { formatDuration } from '../../shared/env.ts';
import { canonicalName } from '../../shared/image-ref.ts';
import type { ImageManifestFacts, Platform } from '../registry/types.ts';
import type { CandidateGate, GateContext, GateResult, GateSubject } from './gates.ts';

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** "linux/arm64/v8" */
export function platformName(p: Platform): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}

function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/**
 * A candidate is eligible once its image is at least `min-age` old, judged from its OCI config
 * `created` (for an index, linux/amd64's or the first platform's). Unknown age fails closed; a
 * young one is held until it comes of age.
 */
export function minAgeGate(): CandidateGate {
  return {
    reason: 'min-age',
    applies: (settings) => (settings.minAgeMs ?? 0) > 0,
    key: (subject) => String(subject.settings.minAgeMs ?? 0),
    async check(subject, ctx): Promise<GateResult> {
      const minAge = subject.settings.minAgeMs ?? 0;
      const created = await ctx.registry.getImageCreated(subject.ref, subject.digest, undefined, {
        credentials: ctx.credentials,
        signal: ctx.signal,
      });
      if (created === undefined) {
        return {
          ok: false,
          held: {
            reason: 'min-age',
            message: `${subject.tag} has no creation time in its image config, so its age is unknown (min-age ${formatDuration(minAge)})`,
          },
        };
      }
      const born = Date.parse(created);
      const age = ctx.now().getTime() - born;
      if (age >= minAge) return { ok: true, detail: `built ${created}` };
      const until = new Date(born + minAge).toISOString();
      return {
        ok: false,
        held: {
          reason: 'min-age',
          until,
          message:
            age < 0
              ? `${subject.tag} claims to be built in the future (${created}); min-age ${formatDuration(minAge)}`
              : `${subject.tag} was built ${formatDuration(age)} ago (${created}); min-age ${formatDuration(minAge)}`,
        },
      };
    },
  };
}

/**
 * When the running image is a multi-platform index, a candidate must provide every os/architecture/
 * variant it provides. Asked only for AUTO_UPDATE workloads (and for manual updates and approvals),
 * so notification-only workloads cost no manifest request.
 */
export function platformGate(opts: { cacheSize?: number } = {}): CandidateGate {
  // What a digest is never changes: its platforms are kept (bounded), so a candidate still held in
  // the next pass costs no request.
  const byDigest = new Map<string, ImageManifestFacts>();
  const max = opts.cacheSize ?? 2048;
  const facts = async (ctx: GateContext, subject: GateSubject, reference: string) => {
    const key = `${canonicalName(subject.ref)}@${reference}`;
    const known = byDigest.get(key);
    if (known) return known;
    const f = await ctx.registry.getManifestFacts(subject.ref, reference, {
      credentials: ctx.credentials,
      signal: ctx.signal,
    });
    if (DIGEST.test(reference)) {
      if (byDigest.size >= max) byDigest.delete(byDigest.keys().next().value!);
      byDigest.set(key, f);
    }
    return f;
  };
  return {
    reason: 'platform',
    applies: (settings) => settings.mode === 'AUTO_UPDATE',
    key: (subject) => subject.current.digest ?? subject.current.tag ?? '',
    async check(subject, ctx): Promise<GateResult> {
      const currentRef = subject.current.digest ?? subject.current.tag;
      if (currentRef === undefined) return { ok: true };
      const current = await facts(ctx, subject, currentRef);
      if (current.kind !== 'index' || current.platforms.length === 0) return { ok: true };
      const candidate = await facts(ctx, subject, subject.digest);
      const offered = candidate.kind === 'index' ? candidate.platforms : undefined;
      // A single-platform candidate cannot replace an index of several platforms.
      const missing =
        offered === undefined
          ? current.platforms.length > 1
            ? current.platforms
            : []
          : current.platforms.filter((p) => !offered.some((o) => samePlatform(o, p)));
      if (missing.length === 0) return { ok: true };
      const what =
        offered === undefined
          ? 'is a single-platform image'
          : `lacks ${missing.map(platformName).join(', ')}`;
      return {
        ok: false,
        held: {
          reason: 'platform',
          message: `${subject.tag} ${what}; the running image provides ${current.platforms.map(platformName).join(', ')}`,
        },
      };
    },
  };
}

/** The built-in gates, in the order they are asked. */
export function policyGates(): CandidateGate[] {
  return [platformGate(), minAgeGate()];
}
