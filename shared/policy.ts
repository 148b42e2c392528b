// Update policy facts shared by the watcher, its API and the notices: why a newer version waits.
// Pure: no I/O.

/** Why a newer allowed version is not (yet) the one chosen. */
export type HeldReason = 'schedule' | 'min-age' | 'constraint' | 'platform' | 'signature';

export const HELD_REASONS: readonly HeldReason[] = Object.freeze([
  'schedule',
  'min-age',
  'constraint',
  'platform',
  'signature',
] as const);

/**
 * Rules a person's approval or manual update overrides (when to apply, how old it must be); never
 * the ones about what may run (constraint, platform, signature).
 */
export function overriddenByApproval(reason: HeldReason | (string & {})): boolean {
  return reason === 'schedule' || reason === 'min-age';
}

/** A newer version that waits, with the reason, until when (when known) and words for people. */
export interface Held {
  reason: HeldReason;
  /** The version that waits (a tag, or `tag@sha256:...`). */
  version?: string | undefined;
  /** RFC 3339: when the rule may let it through (a window start, the day it comes of age). */
  until?: string | undefined;
  message: string;
}

/**
 * The one wording of a hold, for notices, the plan, manual-update refusals and the approval page
 * (which escapes it): "1.26.0 is held (min-age) until 2026-12-04T00:00:00Z: released 1d ago".
 */
export function heldWording(h: {
  reason: string;
  version?: string | undefined;
  until?: string | undefined;
  message: string;
}): string {
  const until = h.until === undefined ? '' : ` until ${h.until}`;
  return `${h.version ?? 'The newer version'} is held (${h.reason})${until}: ${h.message}`;
}
