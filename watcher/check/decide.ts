import type { Mode, ManagedState, WatchSettings } from '../../shared/annotations.ts';
import {
  ANNOTATIONS,
  SINGLE_CONTAINER,
  decodeVersions,
  encodeVersions,
  formatTimestamp,
  managedVersion,
} from '../../shared/annotations.ts';
import { encodePendingRollout } from '../../shared/pending-rollout.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { imageWithTag } from '../../shared/image-ref.ts';
import type { VersionChange } from '../../shared/version.ts';
import { allowedCandidates, newestAllowed } from '../../shared/candidate.ts';
import { parseTag } from '../../shared/version.ts';
import type { ContainerInfo, JsonPatchOp, WorkloadSnapshot } from '../kube/types.ts';

/** One container whose newer allowed version was found. */
export interface Candidate {
  container: string;
  imagePath: string;
  image: string;
  /** What runs now: the tag, or `tag@sha256:...` for a pinned non-version tag. */
  currentVersion: string;
  /** What to announce/apply: a tag, or `tag@sha256:...` for a new digest behind the same tag. */
  newVersion: string;
  newImage: string;
  change: VersionChange;
}

/** Containers to watch: the `containers` annotation's names, else all (init containers included). */
export function watchedContainers(
  containers: readonly ContainerInfo[],
  settings: Pick<WatchSettings, 'containers'>,
): ContainerInfo[] {
  const wanted = settings.containers;
  if (!wanted || wanted.length === 0) return [...containers];
  const set = new Set(wanted);
  return containers.filter((c) => set.has(c.name));
}

/** The version a container runs, as recorded in the version annotations. */
export function runningVersion(ref: ImageReference): string {
  return managedVersion(ref) ?? '';
}

/** Reads one container's value from a version annotation (`tag` or `name=tag,name2=tag2`). */
export function versionFor(
  value: string | undefined,
  container: string,
  watchedCount: number,
): string | undefined {
  const map = decodeVersions(value);
  // A bare tag is only meaningful when exactly one container is watched.
  return map.get(container) ?? (watchedCount === 1 ? map.get(SINGLE_CONTAINER) : undefined);
}

/** Writes a version annotation: the bare tag for one watched container, else `name=tag,...`. */
export function encodeFor(versions: ReadonlyMap<string, string>, watchedCount: number): string {
  if (watchedCount === 1) return encodeVersions(versions);
  // encodeVersions writes a single entry bare; with several watched containers keep the name.
  return [...versions]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, tag]) => `${name}=${tag}`)
    .join(',');
}

export interface TagCandidateInput {
  container: ContainerInfo;
  ref: ImageReference;
  tags: readonly string[];
  settings: Pick<WatchSettings, 'strategy' | 'include' | 'exclude'> &
    Partial<Pick<WatchSettings, 'constraint'>>;
  /** Versions never to propose again (failed rollouts, external reverts). */
  skip: ReadonlySet<string>;
}

/**
 * Newest allowed tag strictly newer than the running one, skipping failed versions.
 * Returns undefined for non-version tags (see {@link digestCandidate}) and digest-only refs.
 */
export function tagCandidate(input: TagCandidateInput): Candidate | undefined {
  const { ref } = input;
  if (ref.tag === undefined) return undefined;
  const latest = newestAllowed(ref.tag, input.tags, { ...input.settings, failed: input.skip });
  return latest ? toCandidate(input, latest) : undefined;
}

/** Every allowed candidate, newest first, at most `max` (to fall back on when policy holds one). */
export function tagCandidates(input: TagCandidateInput, max: number): Candidate[] {
  const { ref } = input;
  if (ref.tag === undefined) return [];
  return allowedCandidates(ref.tag, input.tags, { ...input.settings, failed: input.skip }, max).map((t) =>
    toCandidate(input, t),
  );
}

function toCandidate(input: TagCandidateInput, latest: { tag: string; change: VersionChange }): Candidate {
  const { container, ref } = input;
  return {
    container: container.name,
    imagePath: container.imagePath,
    image: container.image,
    currentVersion: runningVersion(ref),
    newVersion: latest.tag,
    newImage: imageWithTag(ref, latest.tag),
    change: latest.change,
  };
}

export interface DigestCandidateInput {
  container: ContainerInfo;
  ref: ImageReference;
  /** Digest the registry serves for the tag now. */
  registryDigest: string;
  /** Digest the container is known to run: pinned in the image, else the baseline recorded at first sight. */
  knownDigest: string | undefined;
  skip: ReadonlySet<string>;
}

/**
 * Under ALL, a non-version tag (`latest`, `main`) whose registry digest differs from the
 * digest known to run is an update. Unknown running digest: no candidate (the caller records
 * the registry digest as the baseline, so a first sighting never notifies).
 */
export function digestCandidate(input: DigestCandidateInput): Candidate | undefined {
  const { ref, container } = input;
  if (ref.tag === undefined || parseTag(ref.tag) !== undefined) return undefined;
  if (input.knownDigest === undefined || input.knownDigest === input.registryDigest) return undefined;
  const newVersion = `${ref.tag}@${input.registryDigest}`;
  if (input.skip.has(newVersion)) return undefined;
  return {
    container: container.name,
    imagePath: container.imagePath,
    image: container.image,
    currentVersion: runningVersion(ref),
    newVersion,
    // Pinning the digest makes the change visible to Kubernetes, so a rollout actually happens.
    newImage: imageWithTag(ref, ref.tag, input.registryDigest),
    change: 'digest',
  };
}

/** Versions a container must never be moved to again (from `last-failed-version`). */
export function skippedVersions(state: ManagedState, container: string, watchedCount: number): Set<string> {
  const failed = versionFor(state.lastFailedVersion, container, watchedCount);
  return new Set(failed === undefined ? [] : [failed]);
}

/** A GitOps tool or a person put back the image we replaced: stop fighting, record it once. */
export interface ExternalRevert {
  container: string;
  imagePath: string;
  image: string;
  /** Our version that was taken away. */
  revertedVersion: string;
  /** What runs now (the previous version). */
  runningVersion: string;
}

/**
 * After our update, `current-version` and `last-updated-version` name the new version and
 * `previous-version` the old one. If the container runs the previous version again and we did
 * not roll back ourselves (a rollback rewrites `current-version` and `last-failed-version`),
 * someone outside reverted it.
 */
export function detectExternalReverts(
  containers: readonly { info: ContainerInfo; ref: ImageReference }[],
  state: ManagedState,
  watchedCount: number,
): ExternalRevert[] {
  const out: ExternalRevert[] = [];
  for (const { info, ref } of containers) {
    const running = runningVersion(ref);
    const current = versionFor(state.currentVersion, info.name, watchedCount);
    const updated = versionFor(state.lastUpdatedVersion, info.name, watchedCount);
    const previous = versionFor(state.previousVersion, info.name, watchedCount);
    const failed = versionFor(state.lastFailedVersion, info.name, watchedCount);
    if (updated === undefined || previous === undefined) continue;
    if (current !== updated || running === updated || running !== previous || failed === updated) continue;
    out.push({
      container: info.name,
      imagePath: info.imagePath,
      image: info.image,
      revertedVersion: updated,
      runningVersion: running,
    });
  }
  return out;
}

export type Action =
  | { kind: 'none'; reason: string }
  | { kind: 'notify'; candidates: Candidate[] }
  | { kind: 'update'; candidates: Candidate[] };

/**
 * What to do with a workload's candidates. AUTO_UPDATE applies them all in one patch;
 * NOTIFICATION announces only versions not yet announced (`last-notified-version`).
 */
export function decideAction(input: {
  mode: Mode;
  candidates: readonly Candidate[];
  state: ManagedState;
  watchedCount: number;
}): Action {
  const { mode, candidates, state, watchedCount } = input;
  if (mode === 'DISABLED') return { kind: 'none', reason: 'mode is DISABLED' };
  if (candidates.length === 0) return { kind: 'none', reason: 'no newer allowed version' };
  if (mode === 'AUTO_UPDATE') return { kind: 'update', candidates: [...candidates] };
  const fresh = candidates.filter(
    (c) => versionFor(state.lastNotifiedVersion, c.container, watchedCount) !== c.newVersion,
  );
  if (fresh.length === 0) return { kind: 'none', reason: 'already notified' };
  return { kind: 'notify', candidates: fresh };
}

// ---- JSON patches ---------------------------------------------------------------------------

/** JSON pointer to an annotation: `/` in the key is escaped as `~1` (RFC 6901). */
export function annotationPath(key: string): string {
  return `/metadata/annotations/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

function setAnnotation(key: string, value: string): JsonPatchOp {
  // `add` replaces an existing member, so one op covers both cases.
  return { op: 'add', path: annotationPath(key), value };
}

/** What a patch needs to know to create the annotations map when the object has none. */
export type AnnotationsTarget = Pick<WorkloadSnapshot, 'hasAnnotations' | 'resourceVersion'>;

/**
 * Prepends the ops that create `metadata.annotations` when the object has no such map (a workload
 * created before the webhook was installed): `/metadata/annotations/<key>` cannot be added under a
 * missing parent. The `test` on resourceVersion makes sure the map is still absent, since `add` on
 * an existing map would replace it and wipe every other annotation. Nothing is added when the map
 * exists.
 */
export function withAnnotationsMap(w: AnnotationsTarget, ops: readonly JsonPatchOp[]): JsonPatchOp[] {
  if (w.hasAnnotations) return [...ops];
  const testVersion: JsonPatchOp = {
    op: 'test',
    path: '/metadata/resourceVersion',
    value: w.resourceVersion,
  };
  // The same guard later in the patch would only repeat this one.
  const rest = ops.filter(
    (op) => !(op.op === 'test' && op.path === testVersion.path && op.value === testVersion.value),
  );
  return [testVersion, { op: 'add', path: '/metadata/annotations', value: {} }, ...rest];
}

/** Guards a read-modify-write of an annotation: its old value, or the object version when absent. */
function guard(w: WorkloadSnapshot, key: string): JsonPatchOp {
  const old = w.annotations[key];
  if (old !== undefined) return { op: 'test', path: annotationPath(key), value: old };
  return { op: 'test', path: '/metadata/resourceVersion', value: w.resourceVersion };
}

/** The versions of `changes` merged into a version annotation, as the other keys are written. */
export function mergeVersions(
  w: Pick<WorkloadSnapshot, 'annotations'>,
  key: string,
  names: readonly string[],
  changes: ReadonlyMap<string, string>,
): string {
  const merged = new Map<string, string>();
  for (const name of names) {
    const v = changes.get(name) ?? versionFor(w.annotations[key], name, names.length);
    if (v !== undefined) merged.set(name, v);
  }
  return encodeFor(merged, names.length);
}

/**
 * Stamps `last-notified` + `last-notified-version` guarded by a `test` on the previous value, so
 * only one replica (or one run before and after a restart) wins and sends the notification.
 */
export function notifyPatch(
  w: WorkloadSnapshot,
  candidates: readonly Candidate[],
  watchedNames: readonly string[],
  now: Date,
): JsonPatchOp[] {
  const changes = new Map(candidates.map((c) => [c.container, c.newVersion]));
  return withAnnotationsMap(w, [
    guard(w, ANNOTATIONS.lastNotifiedVersion),
    setAnnotation(ANNOTATIONS.lastNotified, formatTimestamp(now)),
    setAnnotation(
      ANNOTATIONS.lastNotifiedVersion,
      mergeVersions(w, ANNOTATIONS.lastNotifiedVersion, watchedNames, changes),
    ),
  ]);
}

/**
 * Claims the sending of a notice: `notice-pending` names the versions about to be announced and
 * `last-notified` the claim time, guarded by a `test` on the previous `last-notified` so one replica
 * (or one run before and after a restart) wins. The stamp after the send ({@link noticeDonePatch})
 * moves the versions into `last-notified-version`; a claim left behind by a crash is taken over
 * once it is older than the claim time-out, so the notice is sent at least once.
 */
export function noticeClaimPatch(
  w: WorkloadSnapshot,
  candidates: readonly Candidate[],
  watchedNames: readonly string[],
  now: Date,
): { ops: JsonPatchOp[]; value: string } {
  const changes = new Map(candidates.map((c) => [c.container, c.newVersion]));
  const value = encodeFor(
    new Map(watchedNames.flatMap((n) => (changes.has(n) ? [[n, changes.get(n)!] as const] : []))),
    watchedNames.length,
  );
  return {
    value,
    ops: withAnnotationsMap(w, [
      guard(w, ANNOTATIONS.lastNotified),
      setAnnotation(ANNOTATIONS.noticePending, value),
      setAnnotation(ANNOTATIONS.lastNotified, formatTimestamp(now)),
    ]),
  };
}

/**
 * How long a notice claim (`notice-pending`) is still respected, in ms; 0: take it over. The
 * claim and its time (`last-notified`) are written in one patch, so a crashed sender always
 * leaves a time. A claim without a usable time (removed by hand, or stamped ahead of this
 * clock) is not known to be stale: it ages from `firstSeenMs`, when this watcher first saw it.
 */
export function noticeClaimWaitMs(
  claimedAt: string | undefined,
  firstSeenMs: number,
  nowMs: number,
  ttlMs: number,
): number {
  const at = claimedAt === undefined ? Number.NaN : Date.parse(claimedAt);
  const since = Number.isFinite(at) && at <= nowMs ? at : Math.min(firstSeenMs, nowMs);
  return Math.max(0, ttlMs - (nowMs - since));
}

/** After the send: the claimed versions join `last-notified-version`, the claim goes. */
export function noticeDonePatch(
  w: Pick<WorkloadSnapshot, 'annotations'>,
  claimed: string,
  candidates: readonly Candidate[],
  watchedNames: readonly string[],
): JsonPatchOp[] {
  const changes = new Map(candidates.map((c) => [c.container, c.newVersion]));
  const path = annotationPath(ANNOTATIONS.noticePending);
  return [
    { op: 'test', path, value: claimed },
    setAnnotation(
      ANNOTATIONS.lastNotifiedVersion,
      mergeVersions(w, ANNOTATIONS.lastNotifiedVersion, watchedNames, changes),
    ),
    { op: 'remove', path },
  ];
}

/** Running versions of the watched containers, as written in `current-version`. */
function runningMap(
  containers: readonly { info: ContainerInfo; ref: ImageReference }[],
  override: ReadonlyMap<string, string> = new Map(),
): Map<string, string> {
  return new Map(
    containers.map(({ info, ref }) => [info.name, override.get(info.name) ?? runningVersion(ref)]),
  );
}

/**
 * Applies candidates: `test` each image still being what we decided on (never clobber a
 * concurrent edit), replace it, and write the history annotations.
 */
export function updatePatch(
  w: AnnotationsTarget,
  candidates: readonly Candidate[],
  watched: readonly { info: ContainerInfo; ref: ImageReference }[],
  now: Date,
  /** When set, the update is recorded in `image-watcher/rollout` until its rollout settles. */
  rolloutDeadline?: Date,
): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  for (const c of candidates) {
    ops.push({ op: 'test', path: c.imagePath, value: c.image });
    ops.push({ op: 'replace', path: c.imagePath, value: c.newImage });
  }
  const n = watched.length;
  const before = runningMap(watched);
  const after = runningMap(watched, new Map(candidates.map((c) => [c.container, c.newVersion])));
  const updated = new Map(candidates.map((c) => [c.container, c.newVersion]));
  ops.push(
    setAnnotation(ANNOTATIONS.previousVersion, encodeFor(before, n)),
    setAnnotation(ANNOTATIONS.currentVersion, encodeFor(after, n)),
    setAnnotation(ANNOTATIONS.lastUpdated, formatTimestamp(now)),
    setAnnotation(ANNOTATIONS.lastUpdatedVersion, encodeFor(n === 1 ? updated : after, n)),
  );
  if (rolloutDeadline !== undefined) {
    ops.push(
      setAnnotation(
        ANNOTATIONS.rollout,
        encodePendingRollout({ deadline: formatTimestamp(rolloutDeadline), changes: [...candidates] }),
      ),
    );
  }
  return withAnnotationsMap(w, ops);
}

/**
 * Removes `image-watcher/rollout` once its rollout has settled, guarded by its value so a newer
 * pending rollout is never dropped. Empty when the annotation is absent.
 */
export function clearRolloutOps(w: Pick<WorkloadSnapshot, 'annotations'>): JsonPatchOp[] {
  const value = w.annotations[ANNOTATIONS.rollout];
  if (value === undefined) return [];
  const path = annotationPath(ANNOTATIONS.rollout);
  return [
    { op: 'test', path, value },
    { op: 'remove', path },
  ];
}

/**
 * Puts the old images back after a failed rollout (guarded by `test` on our new image) and
 * records the versions in `last-failed-version` so they are never tried again.
 */
export function rollbackPatch(
  w: WorkloadSnapshot,
  candidates: readonly Candidate[],
  watchedNames: readonly string[],
): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  for (const c of candidates) {
    ops.push({ op: 'test', path: c.imagePath, value: c.newImage });
    ops.push({ op: 'replace', path: c.imagePath, value: c.image });
  }
  ops.push(
    ...failureOps(
      w,
      watchedNames,
      new Map(candidates.map((c) => [c.container, c.currentVersion])),
      new Map(candidates.map((c) => [c.container, c.newVersion])),
    ),
    ...clearRolloutOps(w),
  );
  return withAnnotationsMap(w, ops);
}

/**
 * Records an external revert: the reverted version joins `last-failed-version` (never applied
 * automatically again) and `current-version` follows what runs, so the revert is seen once.
 */
export function revertPatch(
  w: WorkloadSnapshot,
  reverts: readonly ExternalRevert[],
  watchedNames: readonly string[],
): JsonPatchOp[] {
  return withAnnotationsMap(w, [
    guard(w, ANNOTATIONS.currentVersion),
    ...failureOps(
      w,
      watchedNames,
      new Map(reverts.map((r) => [r.container, r.runningVersion])),
      new Map(reverts.map((r) => [r.container, r.revertedVersion])),
    ),
  ]);
}

/** `current-version` follows what runs again; the version taken away joins `last-failed-version`. */
function failureOps(
  w: WorkloadSnapshot,
  watchedNames: readonly string[],
  running: ReadonlyMap<string, string>,
  failed: ReadonlyMap<string, string>,
): JsonPatchOp[] {
  return [
    setAnnotation(
      ANNOTATIONS.currentVersion,
      mergeVersions(w, ANNOTATIONS.currentVersion, watchedNames, running),
    ),
    setAnnotation(
      ANNOTATIONS.lastFailedVersion,
      mergeVersions(w, ANNOTATIONS.lastFailedVersion, watchedNames, failed),
    ),
  ];
}
