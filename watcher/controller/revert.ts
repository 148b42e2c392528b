// An image set back outside image-watcher: recorded so that version is not applied again.
import { classifyChange, parseTag } from '../../shared/version.ts';
import type { WorkloadCheck } from '../check/checker.ts';
import type { detectExternalReverts } from '../check/decide.ts';
import { revertPatch } from '../check/decide.ts';
import type { UpdateNotice } from '../notify/types.ts';
import { labelsOf, recordEvent } from '../update/updater.ts';
import type { Ctx } from './context.ts';
import { patchAdopted } from './entries.ts';

export function changeBetween(from: string, to: string): UpdateNotice['change'] {
  const a = parseTag(from);
  const b = parseTag(to);
  return a && b ? classifyChange(a, b) : 'digest';
}

export async function recordRevert(
  ctx: Ctx,
  c: WorkloadCheck,
  reverts: ReturnType<typeof detectExternalReverts>,
): Promise<void> {
  const w = c.snapshot;
  if (
    !(await patchAdopted(
      ctx,
      w,
      revertPatch(
        w,
        reverts,
        c.watched.map((x) => x.info.name),
      ),
    ))
  )
    return;
  const text = reverts.map((r) => `${r.container}: ${r.revertedVersion} -> ${r.runningVersion}`).join(', ');
  for (const r of reverts) {
    ctx.log.warn(
      {
        workload: labelsOf(w),
        container: r.container,
        from: r.revertedVersion,
        to: r.runningVersion,
        decision: 'reverted_externally',
      },
      'image reverted outside image-watcher; not updating again',
    );
  }
  await recordEvent(
    { gateway: ctx.deps.gateway, logger: ctx.log },
    w,
    'Warning',
    'RevertedExternally',
    `image reverted outside image-watcher (${text}); that version will not be applied again automatically`,
  );
  await ctx.deps.notify(
    reverts.map((r) => ({
      event: 'reverted_externally' as const,
      workload: { kind: w.kind, namespace: w.namespace, name: w.name },
      container: r.container,
      image: r.image,
      currentVersion: r.runningVersion,
      newVersion: r.revertedVersion,
      change: changeBetween(r.runningVersion, r.revertedVersion),
      detail:
        'The image was set back outside image-watcher (GitOps or a person); this version will not be applied again automatically.',
    })),
  );
}
