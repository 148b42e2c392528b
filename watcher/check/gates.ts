// Candidate gates: per-digest facts a candidate must pass before it is chosen (old enough, every
// platform of the running image, a valid signature). Each gate is a narrow async check; the
// controller asks them through its pass lookups (never awaiting inside a reconcile), caches the
// answers by digest and falls back on the next older allowed candidate when one is held.
import type { WatchSettings } from '../../shared/annotations.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import type { Held, HeldReason } from '../../shared/policy.ts';
import type { RegistryClient, RegistryCredentials } from '../registry/types.ts';

/** What a gate judges: one candidate of one container. */
export interface GateSubject {
  /** The repository (the running image's reference). */
  ref: ImageReference;
  /** The candidate's tag and the digest the registry serves for it. */
  tag: string;
  digest: string;
  /** The running image: its digest when pinned in the spec, and its tag. */
  current: { tag: string | undefined; digest: string | undefined };
  namespace: string;
  settings: WatchSettings;
}

/** Registry access and time for a gate's check. */
export interface GateContext {
  registry: RegistryClient;
  credentials: RegistryCredentials | undefined;
  signal: AbortSignal;
  now: () => Date;
}

export type GateResult = { ok: true; detail?: string } | { ok: false; held: Held };

export interface CandidateGate {
  reason: HeldReason;
  /** Whether the gate judges this workload at all; false costs no registry request. */
  applies(settings: WatchSettings): boolean;
  /**
   * What the answer depends on besides the candidate's digest (a setting, the running image), so
   * answers are cached per digest and this key.
   */
  key(subject: GateSubject): string;
  check(subject: GateSubject, ctx: GateContext): Promise<GateResult>;
  /**
   * The candidate is applied as `tag@digest`, the digest this gate judged: a tag moved after the
   * check must not bring in an image the gate never saw (the signature gate).
   */
  pinsDigest?: boolean;
}
