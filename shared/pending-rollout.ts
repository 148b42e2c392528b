import { isRfc3339Timestamp } from './timestamp.ts';
import type { VersionChange } from './version.ts';

/**
 * An update the watcher applied and has not yet seen finish, kept in the workload's
 * `image-watcher/rollout` annotation. It is written in the same patch as the new image and removed
 * when the rollout completes or is rolled back, so whichever replica leads next can finish
 * watching a rollout that a restarted or replaced leader left behind.
 */
export interface PendingRollout {
  /** When the rollout counts as failed (RFC 3339): the update time plus ROLLOUT_TIMEOUT. */
  deadline: string;
  changes: PendingChange[];
}

export interface PendingChange {
  container: string;
  /** JSON pointer to the image field. */
  imagePath: string;
  /** The image before the update: what a rollback restores. */
  image: string;
  newImage: string;
  currentVersion: string;
  newVersion: string;
  change: VersionChange;
}

// Every VersionChange, checked by the compiler: a new kind must be readable here too, or a record
// holding it would be dropped as unreadable.
const CHANGES = Object.keys({
  major: true,
  minor: true,
  patch: true,
  build: true,
  prerelease: true,
  revision: true,
  digest: true,
} satisfies Record<VersionChange, true>) as VersionChange[];
const STRING_FIELDS = [
  'container',
  'imagePath',
  'image',
  'newImage',
  'currentVersion',
  'newVersion',
] as const;
/** A pod has few containers; a longer list is not ours. */
const MAX_CHANGES = 64;
/** Only image fields of the pod template (or a CronJob's) are ever patched. */
const IMAGE_PATH = /^\/spec\/(jobTemplate\/spec\/)?template\/spec\/(containers|initContainers)\/\d+\/image$/;

export function encodePendingRollout(r: PendingRollout): string {
  return JSON.stringify({
    deadline: r.deadline,
    changes: r.changes.map((c) => ({
      container: c.container,
      imagePath: c.imagePath,
      image: c.image,
      newImage: c.newImage,
      currentVersion: c.currentVersion,
      newVersion: c.newVersion,
      change: c.change,
    })),
  });
}

/** The annotation's value, or why it cannot be read (the caller clears it and says so). */
export function parsePendingRollout(
  value: string,
): { ok: true; rollout: PendingRollout } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'is not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: 'is not a JSON object' };
  }
  const { deadline, changes } = raw as { deadline?: unknown; changes?: unknown };
  if (typeof deadline !== 'string' || !isRfc3339Timestamp(deadline)) {
    return { ok: false, reason: 'has no RFC 3339 "deadline"' };
  }
  if (!Array.isArray(changes) || changes.length === 0 || changes.length > MAX_CHANGES) {
    return { ok: false, reason: `has no "changes" list of 1 to ${MAX_CHANGES} entries` };
  }
  const out: PendingChange[] = [];
  for (const [i, c] of (changes as unknown[]).entries()) {
    if (typeof c !== 'object' || c === null) return { ok: false, reason: `change ${i} is not an object` };
    const entry = c as Record<string, unknown>;
    for (const field of STRING_FIELDS) {
      if (typeof entry[field] !== 'string' || entry[field] === '') {
        return { ok: false, reason: `change ${i} has no "${field}" string` };
      }
    }
    if (!IMAGE_PATH.test(entry.imagePath as string)) {
      return { ok: false, reason: `change ${i} has an "imagePath" that is not a container image field` };
    }
    if (!CHANGES.includes(entry.change as VersionChange)) {
      return { ok: false, reason: `change ${i} has an unknown "change"` };
    }
    out.push({
      container: entry.container as string,
      imagePath: entry.imagePath as string,
      image: entry.image as string,
      newImage: entry.newImage as string,
      currentVersion: entry.currentVersion as string,
      newVersion: entry.newVersion as string,
      change: entry.change as VersionChange,
    });
  }
  return { ok: true, rollout: { deadline, changes: out } };
}
