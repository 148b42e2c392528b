// Signed, expiring approval links. The signature binds namespace, kind, name, the exact version,
// the version running when the link was made, the workload's last update stamp and the expiry: a
// forwarded or old link can update to that version only, only from the state it was made for
// (the page refuses it after any update, revert or other change of the running version), and
// only until it expires.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ANNOTATIONS } from '../../shared/annotations.ts';
import { WORKLOAD_KINDS, type WorkloadKind, type WorkloadSnapshot } from '../kube/types.ts';

/**
 * Three days: a notice sent on a Friday evening can still be approved on Monday morning; a week
 * only widened the window in which a leaked link worked. APPROVAL_LINK_TTL changes it.
 */
export const DEFAULT_LINK_TTL_MS = 3 * 24 * 3_600_000;

export interface ApprovalTarget {
  namespace: string;
  kind: WorkloadKind;
  name: string;
  version: string;
  /** The version that ran when the link was made. */
  from: string;
  /** `image-watcher/last-updated` then ('' when never updated): any later update changes it. */
  stamp: string;
}

export interface SignedParams {
  v: string;
  f: string;
  u: string;
  exp: string;
  sig: string;
}

export type LinkCheck =
  { ok: true; target: ApprovalTarget; expiresAt: number } | { ok: false; reason: 'expired' | 'invalid' };

/** Kind as written in a URL (`deployment`, `Deployment`) to its canonical spelling. */
export function parseKind(value: string): WorkloadKind | undefined {
  const lower = value.toLowerCase();
  return WORKLOAD_KINDS.find((k) => k.toLowerCase() === lower);
}

// '|' separates the fields; Kubernetes names and image tags cannot contain it, and a value that does
// is refused before signing or verifying, so two different targets never share a signed string.
function signedString(t: ApprovalTarget, exp: number): string | undefined {
  const parts = [t.namespace, t.kind, t.name, t.version, t.from];
  if (parts.some((p) => p === '' || p.includes('|')) || t.stamp.includes('|')) return undefined;
  return `v2|${parts.join('|')}|${t.stamp}|${exp}`;
}

function mac(secret: string, data: string): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

/** base64url HMAC-SHA256(secret, "v2|ns|kind|name|version|from|stamp|exp"). */
export function signTarget(secret: string, target: ApprovalTarget, exp: number): string {
  const data = signedString(target, exp);
  if (data === undefined) throw new RangeError('approval target fields must be non-empty and free of "|"');
  return mac(secret, data).toString('base64url');
}

export interface LinkOptions {
  secret: string;
  publicUrl: string;
  /** Milliseconds since the epoch. */
  now: number;
  ttlMs?: number;
}

export function approvalPath(t: Pick<ApprovalTarget, 'namespace' | 'kind' | 'name'>): string {
  return `/approve/${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.kind)}/${encodeURIComponent(t.name)}`;
}

/** `{publicUrl}/approve/{ns}/{kind}/{name}?v=…&f=…&u=…&exp=…&sig=…` */
export function createApprovalUrl(target: ApprovalTarget, opts: LinkOptions): string {
  const exp = Math.floor((opts.now + (opts.ttlMs ?? DEFAULT_LINK_TTL_MS)) / 1000);
  const sig = signTarget(opts.secret, target, exp);
  const base = opts.publicUrl.replace(/\/+$/, '');
  const query = new URLSearchParams({
    v: target.version,
    f: target.from,
    u: target.stamp,
    exp: String(exp),
    sig,
  });
  return `${base}${approvalPath(target)}?${query.toString()}`;
}

/** The link for a notice about `candidate` of workload `w`, bound to what runs now. */
export function approvalUrlFor(
  w: Pick<WorkloadSnapshot, 'namespace' | 'kind' | 'name' | 'annotations'>,
  candidate: { currentVersion: string; newVersion: string },
  opts: LinkOptions,
): string {
  return createApprovalUrl(
    {
      namespace: w.namespace,
      kind: w.kind,
      name: w.name,
      version: candidate.newVersion,
      from: candidate.currentVersion,
      stamp: w.annotations[ANNOTATIONS.lastUpdated] ?? '',
    },
    opts,
  );
}

/**
 * Checks the signature first (constant time), then the expiry: so a link whose `exp` was edited is
 * "invalid", and only a genuine old link is "expired". Nothing else about the failure is revealed.
 */
export function verifyApproval(
  secret: string,
  route: { namespace: string; kind: string; name: string },
  params: Partial<Record<keyof SignedParams, unknown>>,
  nowMs: number,
): LinkCheck {
  const kind = parseKind(route.kind);
  const { v, f, u, exp, sig } = params;
  if (
    !kind ||
    typeof v !== 'string' ||
    typeof f !== 'string' ||
    typeof u !== 'string' ||
    typeof exp !== 'string' ||
    typeof sig !== 'string'
  ) {
    return { ok: false, reason: 'invalid' };
  }
  if (!/^\d{1,12}$/.test(exp)) return { ok: false, reason: 'invalid' };
  const expiresAt = Number(exp);
  const target: ApprovalTarget = {
    namespace: route.namespace,
    kind,
    name: route.name,
    version: v,
    from: f,
    stamp: u,
  };
  const data = signedString(target, expiresAt);
  if (data === undefined) return { ok: false, reason: 'invalid' };
  const expected = mac(secret, data);
  const given = Buffer.from(sig, 'base64url');
  // Re-encoding rejects non-canonical base64url spellings of the same bytes.
  if (
    given.length !== expected.length ||
    given.toString('base64url') !== sig ||
    !timingSafeEqual(given, expected)
  ) {
    return { ok: false, reason: 'invalid' };
  }
  if (expiresAt * 1000 <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, target, expiresAt };
}
