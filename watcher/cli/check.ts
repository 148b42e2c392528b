import { imageWithTag, parseImageReference } from '../../shared/image-ref.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { newestAllowed } from '../../shared/candidate.ts';
import type { CandidateRule } from '../../shared/candidate.ts';
import { parseTag } from '../../shared/strategy.ts';
import type { VersionChange } from '../../shared/strategy.ts';
import type { RegistryClient, RegistryCredentials } from '../registry/types.ts';
import { UsageError } from './args.ts';

/** The contract's JSON answer of `check`, plus the kind of change and a note for people. */
export interface CheckResult {
  image: string;
  current: string;
  latest: string;
  fullImage: string;
  updateAvailable: boolean;
  /** Digest of the `latest` tag (HEAD request). */
  digest: string;
  change?: VersionChange | undefined;
  note?: string | undefined;
  /** OCI labels of `latest`, with --labels. */
  labels?: Record<string, string> | undefined;
}

export interface CheckDeps {
  client: RegistryClient;
  credentialsFor: (registry: string) => RegistryCredentials | undefined;
}

/** The tag to compare; a digest-only reference has no version to compare. */
export function currentTagOf(ref: ImageReference): string {
  if (ref.tag === undefined) {
    throw new UsageError(
      `${ref.original} pins only a digest; write it with a tag (name:tag@sha256:...) to compare versions`,
    );
  }
  return ref.tag;
}

/** Asks the registry for the newest allowed version of one image. */
export async function checkImage(
  deps: CheckDeps,
  image: string | ImageReference,
  selection: CandidateRule,
): Promise<CheckResult> {
  const ref = typeof image === 'string' ? parseImageReference(image) : image;
  const current = currentTagOf(ref);
  const opts = { credentials: deps.credentialsFor(ref.registry) };
  const tags = await deps.client.listTags(ref, opts);
  const latest = newestAllowed(current, tags, selection);
  if (latest) {
    const digest = await deps.client.getDigest(ref, latest.tag, opts);
    return {
      image: ref.original,
      current,
      latest: latest.tag,
      fullImage: imageWithTag(ref, latest.tag),
      updateAvailable: true,
      digest,
      change: latest.change,
    };
  }
  const digest = await deps.client.getDigest(ref, current, opts);
  const result: CheckResult = {
    image: ref.original,
    current,
    latest: current,
    fullImage: imageWithTag(ref, current),
    updateAvailable: false,
    digest,
  };
  if (parseTag(current) !== undefined) return result;
  // Not a version (`latest`, `stable`): only a new digest behind the same tag can be an update.
  if (selection.strategy !== 'ALL') {
    result.note = `${current} is not a version; only strategy ALL compares digests`;
  } else if (ref.digest === undefined) {
    result.note = `${current} is not a version; write IMAGE as name:${current}@sha256:... to compare digests`;
  } else if (ref.digest !== digest) {
    result.updateAvailable = true;
    result.change = 'digest';
    result.fullImage = imageWithTag(ref, current, digest);
  }
  return result;
}

/** Adds the OCI labels of the version `check` answered with (`--labels`). */
export async function withLabels(deps: CheckDeps, r: CheckResult): Promise<CheckResult> {
  const ref = parseImageReference(r.image);
  const labels = await deps.client.getImageLabels(ref, r.latest, {
    credentials: deps.credentialsFor(ref.registry),
  });
  return { ...r, labels };
}

/** The contract's JSON fields, in the contract's order (and the labels when asked for). */
export function checkJson(r: CheckResult): Record<string, unknown> {
  return {
    image: r.image,
    current: r.current,
    latest: r.latest,
    fullImage: r.fullImage,
    updateAvailable: r.updateAvailable,
    digest: r.digest,
    ...(r.labels === undefined ? {} : { labels: r.labels }),
  };
}

/** One `key=value` line per label, sorted, for text mode. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `  ${k}=${JSON.stringify(labels[k]).slice(1, -1)}\n`)
    .join('');
}

export function formatCheck(r: CheckResult, strategy: string): string {
  if (r.updateAvailable) {
    const what = r.change === 'digest' ? `new digest ${r.digest}` : `${r.change ?? 'update'} update`;
    return `${r.latest}\t${r.image}: ${what} available (${strategy}): ${r.fullImage}`;
  }
  return `${r.latest}\t${r.image}: up to date (${strategy})${r.note ? `; ${r.note}` : ''}`;
}
