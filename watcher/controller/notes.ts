// Release notes for notices, memoised per pass, and the last ones announced (approval page).
import type { WorkloadCheck } from '../check/checker.ts';
import type { Candidate } from '../check/decide.ts';
import type { WorkloadKind } from '../kube/types.ts';
import type { UpdateNotice } from '../notify/types.ts';
import type { Ctx } from './context.ts';
import { workloadKey } from './state.ts';

/** Release notes are a bonus: any failure yields nothing rather than failing the check. */
export async function notesFor(
  ctx: Ctx,
  c: Pick<WorkloadCheck, 'key' | 'snapshot' | 'settings'>,
  cand: Candidate,
): Promise<Pick<UpdateNotice, 'releaseNotes'>> {
  const fetchNotes = ctx.deps.releaseNotes;
  if (!fetchNotes || cand.change === 'digest') return {};
  // Workloads running the same image share its notes: fetched once per pass, not per workload.
  const key = `${c.settings.releaseUrl ?? ''}\n${cand.newImage}`;
  let pending = ctx.notesMemo.get(key);
  if (!pending) {
    pending = fetchNotes({
      workload: c.snapshot,
      releaseUrl: c.settings.releaseUrl,
      image: cand.image,
      newImage: cand.newImage,
      newVersion: cand.newVersion,
    }).catch((err: unknown) => {
      ctx.log.debug({ err, image: cand.newImage }, 'no release notes');
      return undefined;
    });
    ctx.notesMemo.set(key, pending);
  }
  const releaseNotes = await pending;
  if (releaseNotes)
    ctx.lastNotes.set(`${c.key}|${cand.container}`, { version: cand.newVersion, notes: releaseNotes });
  return releaseNotes ? { releaseNotes } : {};
}

/** Release notes last announced for this workload and version (never fetched here), or undefined. */
export function releaseNotesFor(
  ctx: Ctx,
  kind: WorkloadKind,
  namespace: string,
  name: string,
  version: string,
): UpdateNotice['releaseNotes'] | undefined {
  const prefix = `${workloadKey({ kind, namespace, name })}|`;
  for (const [k, v] of ctx.lastNotes) {
    if (k.startsWith(prefix) && v.version === version) return v.notes;
  }
  return undefined;
}
