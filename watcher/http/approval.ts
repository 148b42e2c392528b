import { ANNOTATIONS } from '../../shared/annotations.ts';
import type { ApprovalDeps, ApprovalInfo, UpdateOutcome } from '../approval/plugin.ts';
import type { ManualUpdateRequest, ManualUpdateResult, WorkloadView } from '../api.ts';
import { ManualUpdateError } from '../api.ts';
import { versionFor } from '../check/decide.ts';
import type { WorkloadKind, WorkloadSnapshot } from '../kube/types.ts';
import type { UpdateNotice } from '../notify/types.ts';

/** The approval page's view of the controller: what a link would change, and doing it. */
export function approvalAdapter(
  controller: {
    workloads(): WorkloadView[];
    manualUpdate(req: ManualUpdateRequest): Promise<ManualUpdateResult>;
    releaseNotesFor(
      kind: WorkloadKind,
      namespace: string,
      name: string,
      version: string,
    ): UpdateNotice['releaseNotes'] | undefined;
    snapshot(kind: WorkloadKind, namespace: string, name: string): WorkloadSnapshot | undefined;
  },
  extra: {
    /** Who signed a version of an image (the signature gate), shown on the page. */
    signerOf?: (image: string, version: string) => string | undefined;
  } = {},
): Pick<ApprovalDeps, 'lookup' | 'update'> {
  return {
    lookup(namespace: string, kind: WorkloadKind, name: string, version: string): ApprovalInfo | undefined {
      const w = controller
        .workloads()
        .find((x) => x.namespace === namespace && x.kind === kind && x.name === name);
      if (!w || w.containers.length === 0) return undefined;
      // The container the link is about: the one whose newest version is the link's, else the first.
      const c = w.containers.find((x) => x.latestVersion === version) ?? w.containers[0]!;
      // The notes the notice carried (kept by the controller), never fetched again here.
      const releaseNotes = controller.releaseNotesFor(kind, namespace, name, version);
      const annotations = controller.snapshot(kind, namespace, name)?.annotations ?? {};
      const failed = versionFor(annotations[ANNOTATIONS.lastFailedVersion], c.name, w.containers.length);
      const lastUpdated = annotations[ANNOTATIONS.lastUpdated];
      const signedBy = extra.signerOf?.(c.image, version);
      return {
        workload: { kind, namespace, name },
        containers: w.containers.map((x) => x.name),
        images: w.containers.map((x) => x.image),
        currentVersion: c.currentVersion,
        ...(c.latestVersion !== undefined ? { newestVersion: c.latestVersion } : {}),
        ...(releaseNotes ? { releaseNotes } : {}),
        ...(lastUpdated !== undefined ? { lastUpdated } : {}),
        ...(failed !== undefined ? { failedVersions: [failed] } : {}),
        ...(c.held ? { held: c.held } : {}),
        ...(signedBy !== undefined ? { signedBy } : {}),
      };
    },
    async update(
      namespace: string,
      kind: WorkloadKind,
      name: string,
      version: string,
    ): Promise<UpdateOutcome> {
      try {
        const r = await controller.manualUpdate({ kind, namespace, name, version });
        const what = r.changes.map((c) => `${c.container} ${c.from} → ${c.to}`).join(', ');
        return { ok: true, message: `Updating ${what}. The rollout is watched and rolled back if it fails.` };
      } catch (err) {
        if (err instanceof ManualUpdateError) return { ok: false, message: err.message };
        throw err;
      }
    },
  };
}
