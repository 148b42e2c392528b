// The policy gates' choice among a container's candidates, answered from the pass's lookups.
import type { WatchSettings } from '../../shared/annotations.ts';
import { canonicalName, imageWithTag } from '../../shared/image-ref.ts';
import { overriddenByApproval } from '../../shared/policy.ts';
import type { Held } from '../../shared/policy.ts';
import type { CandidateChoice, CandidateChooser } from '../check/checker.ts';
import type { CandidateGate, GateResult, GateSubject } from '../check/gates.ts';
import type { Ctx } from './context.ts';
import type { Creds, Pass } from './lookups.ts';

/** Gate answers kept across passes (a few per candidate digest). */
const MAX_GATE_ANSWERS = 4096;

/**
 * The policy gates' choice among a container's allowed candidates, from the pass's lookups: the
 * newest that passes every gate that applies. A workload no gate applies to costs no request.
 */
export function chooser(ctx: Ctx, pass: Pass, waiter: string, manual = false): CandidateChooser {
  return ({ target, container, candidates }): CandidateChoice => {
    // A manual update or approval is an update (platform applies whatever the mode) and a
    // person's decision: it overrides the release age, never platform or signature.
    const settings: WatchSettings = manual ? { ...target.settings, mode: 'AUTO_UPDATE' } : target.settings;
    const gates = (ctx.deps.gates ?? []).filter(
      (g) => g.applies(settings) && !(manual && overriddenByApproval(g.reason)),
    );
    if (gates.length === 0) return { pending: false, candidate: candidates[0], held: undefined };
    const { ref } = container;
    const repoKey = canonicalName(ref);
    const creds: Creds = () => pass.lookups.credentials.forWorkload(target.snapshot, ref.registry);
    let held: Held | undefined;
    for (const cand of candidates) {
      const at = cand.newVersion.indexOf('@');
      const tag = at < 0 ? cand.newVersion : cand.newVersion.slice(0, at);
      let digest: string;
      if (at >= 0) digest = cand.newVersion.slice(at + 1);
      else {
        const d = pass.lookups.digest(repoKey, ref, tag, creds, waiter);
        if (!d.done) return { pending: true };
        if (typeof d.value !== 'string') {
          held ??= {
            reason: gates[0]!.reason,
            version: cand.newVersion,
            message: `cannot read the digest of ${tag}: ${d.value!.message}`,
          };
          continue;
        }
        digest = d.value;
      }
      const subject: GateSubject = {
        ref,
        tag,
        digest,
        current: { tag: ref.tag, digest: ref.digest },
        namespace: target.snapshot.namespace,
        settings,
      };
      let waiting = false;
      let stop: Held | undefined;
      for (const g of gates) {
        const r = gateAnswer(ctx, g, subject, repoKey, pass, waiter, creds);
        if (r === undefined) waiting = true;
        else if (!r.ok) {
          stop = { ...r.held, version: cand.newVersion };
          break;
        }
      }
      if (stop) {
        held ??= stop;
        continue;
      }
      if (waiting) return { pending: true };
      if (at < 0 && gates.some((g) => g.pinsDigest === true)) {
        return { pending: false, candidate: { ...cand, newImage: imageWithTag(ref, tag, digest) }, held };
      }
      return { pending: false, candidate: cand, held };
    }
    return { pending: false, candidate: undefined, held };
  };
}

/**
 * A gate's answer: cached by digest (a pass result forever, a hold with `until` until then,
 * other holds for this pass only), else asked; undefined while asking.
 */
function gateAnswer(
  ctx: Ctx,
  gate: CandidateGate,
  subject: GateSubject,
  repoKey: string,
  pass: Pass,
  waiter: string,
  creds: Creds,
): GateResult | undefined {
  const key = `${gate.reason}|${repoKey}@${subject.digest}|${gate.key(subject)}`;
  const now = ctx.deps.now().getTime();
  const cached = ctx.gateAnswers.get(key);
  if (cached) {
    const r = cached.result;
    const until = r.ok ? undefined : r.held.until;
    if (r.ok || (until !== undefined ? now < Date.parse(until) : cached.pass === pass.id)) return r;
    ctx.gateAnswers.delete(key);
    pass.lookups.gates.delete(key); // asked again, also within this pass
  }
  const l = pass.lookups.gate(key, gate, subject.ref.registry, waiter, async (signal) =>
    gate.check(subject, {
      registry: ctx.deps.registry,
      credentials: await creds(),
      signal,
      now: ctx.deps.now,
    }),
  );
  if (!l.done) return undefined;
  const result = l.value!;
  if (!ctx.gateAnswers.has(key)) {
    if (ctx.gateAnswers.size >= MAX_GATE_ANSWERS) {
      const oldest = ctx.gateAnswers.keys().next().value;
      if (oldest !== undefined) ctx.gateAnswers.delete(oldest);
    }
    ctx.gateAnswers.set(key, { result, pass: pass.id });
  }
  return result;
}
