import { ImageWatcherError } from '../../shared/errors.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { imageWithTag, parseImageReference } from '../../shared/image-ref.ts';
import type { Strategy } from '../../shared/strategy.ts';
import { newestAllowed } from '../../shared/candidate.ts';
import { STRATEGIES, findLatestPatchSuffix } from '../../shared/strategy.ts';
import type { RegistryClient } from '../registry/types.ts';

/** A query the API cannot answer as asked (400). */
export class BadQueryError extends ImageWatcherError {
  constructor(message: string) {
    super('E_BAD_QUERY', message);
  }
}

export interface Resolution {
  image: string;
  current: string;
  latest: string;
  fullImage: string;
  updateAvailable: boolean;
}

export function parseStrategy(value: string | undefined): Strategy {
  if (value === undefined || value === '') return 'ALL';
  const upper = value.toUpperCase();
  const found = STRATEGIES.find((s) => s === upper);
  if (!found) throw new BadQueryError(`strategy '${value}' is not one of ${STRATEGIES.join(', ')}`);
  return found;
}

function parseRef(image: string): ImageReference {
  try {
    return parseImageReference(image);
  } catch (err) {
    throw new BadQueryError(err instanceof Error ? err.message : String(err));
  }
}

/** `/api/v1/resolve`: the newest allowed version of one image reference. */
export async function resolveImage(
  registry: Pick<RegistryClient, 'listTags'>,
  image: string,
  strategy: Strategy,
): Promise<Resolution> {
  const ref = parseRef(image);
  if (ref.tag === undefined) throw new BadQueryError(`image '${image}' has no tag to compare versions with`);
  const tags = await registry.listTags(ref);
  const latest = newestAllowed(ref.tag, tags, { strategy })?.tag ?? ref.tag;
  return {
    image,
    current: ref.tag,
    latest,
    fullImage: imageWithTag(ref, latest),
    updateAvailable: latest !== ref.tag,
  };
}

/** mojaloop names: `bugfix` is PATCH; `patch` means the newest `<tag>-patch.N`. */
export const LEGACY_STRATEGIES = ['major', 'minor', 'bugfix', 'patch'] as const;
export type LegacyStrategy = (typeof LEGACY_STRATEGIES)[number];

/** `/images/{org}/{image}/{tag}`: the query API of the older mojaloop image-watcher (Docker Hub names). */
export async function resolveLegacy(
  registry: Pick<RegistryClient, 'listTags'>,
  org: string,
  image: string,
  tag: string,
  strategy: LegacyStrategy,
): Promise<{ tag: string; fullImage: string }> {
  const ref = parseRef(`${org}/${image}:${tag}`);
  const tags = await registry.listTags(ref);
  const latest =
    strategy === 'patch'
      ? (findLatestPatchSuffix(tag, tags) ?? tag)
      : (newestAllowed(tag, tags, {
          strategy: strategy === 'major' ? 'MAJOR' : strategy === 'minor' ? 'MINOR' : 'PATCH',
        })?.tag ?? tag);
  return { tag: latest, fullImage: imageWithTag(ref, latest) };
}
