// Signed, expiring approval links. The signature binds namespace, kind, name, the exact version and
// the expiry, so a forwarded or old link can update to that version only, and only until it expires.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { WORKLOAD_KINDS, type WorkloadKind } from '../kube/types.ts';
export const DEFAULT_LINK_TTL_MS = 7 * 24 * 3_600_000;

export interface ApprovalTarget {
  namespace: string;
  kind: WorkloadKind;
  name: string;
  version: string;
}

export interface SignedParams {
  v: string;
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
  const parts = [t.namespace, t.kind, t.name, t.version];
  if (parts.some((p) => p === '' || p.includes('|'))) return undefined;
  return `${parts.join('|')}|${exp}`;
}

function mac(secret: string, data: string): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

/** base64url HMAC-SHA256(secret, "ns|kind|name|version|exp"). */
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

/** `{publicUrl}/approve/{ns}/{kind}/{name}?v=…&exp=…&sig=…` */
export function createApprovalUrl(target: ApprovalTarget, opts: LinkOptions): string {
  const exp = Math.floor((opts.now + (opts.ttlMs ?? DEFAULT_LINK_TTL_MS)) / 1000);
  const sig = signTarget(opts.secret, target, exp);
  const base = opts.publicUrl.replace(/\/+$/, '');
  const query = new URLSearchParams({ v: target.version, exp: String(exp), sig });
  return `${base}${approvalPath(target)}?${query.toString()}`;
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
  const { v, exp, sig } = params;
  if (!kind || typeof v !== 'string' || typeof exp !== 'string' || typeof sig !== 'string') {
    return { ok: false, reason: 'invalid' };
  }
  if (!/^\d{1,12}$/.test(exp)) return { ok: false, reason: 'invalid' };
  const expiresAt = Number(exp);
  const target: ApprovalTarget = { namespace: route.namespace, kind, name: route.name, version: v };
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
