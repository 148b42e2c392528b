import type { Logger } from 'pino';
import type { Config } from '../../shared/config.ts';
import { parseImageReference } from '../../shared/image-ref.ts';
import type { ReleaseNotesFn } from '../api.ts';
import type { RegistryClient } from '../registry/types.ts';
import { fetchReleaseNotes, ReleaseNotesCache } from './fetch.ts';
import type { FetchReleaseNotesOptions } from './fetch.ts';
import { ReleaseNotesError } from './ssrf.ts';
import { summarizeReleaseNotes } from './summarize.ts';
import type { SummarizeOptions } from './summarize.ts';
import { releaseNotesLocation } from './url.ts';

export { fetchReleaseNotes, ReleaseNotesCache } from './fetch.ts';
export type { ReleaseNotes, FetchReleaseNotesOptions } from './fetch.ts';
export { blockedReason, guardedGet, ReleaseNotesError } from './ssrf.ts';
export { summarizeReleaseNotes, chatCompletionsUrl } from './summarize.ts';
export { expandReleaseUrl, githubReleaseUrls, locate, releaseNotesLocation } from './url.ts';

export interface ReleaseNotesDeps {
  logger: Logger;
  /** Labels of an image version (for `org.opencontainers.image.source`); omit to derive nothing. */
  imageLabels?: (image: string, tag: string) => Promise<Readonly<Record<string, string>>>;
  fetch?: Omit<FetchReleaseNotesOptions, 'cache'>;
  /** OPEN_AI_URL/KEY/MODEL; without it there is no summary. */
  summarize?: Omit<SummarizeOptions, 'logger'>;
  cache?: ReleaseNotesCache;
}

/**
 * The controller's release-notes hook: finds the notes of the new version (release-url annotation,
 * else the image's source label), fetches them through the SSRF guard and adds a summary when an
 * OpenAI-compatible endpoint is configured. Never throws: notes are a bonus to a notification,
 * and a link alone is still worth sending when the fetch fails.
 */
export function createReleaseNotes(deps: ReleaseNotesDeps): ReleaseNotesFn {
  const cache = deps.cache ?? new ReleaseNotesCache();
  const log = deps.logger;
  return async (req) => {
    let labels: Readonly<Record<string, string>> | undefined;
    if (req.releaseUrl === undefined && deps.imageLabels !== undefined) {
      try {
        labels = await deps.imageLabels(req.newImage, req.newVersion);
      } catch (err) {
        log.debug({ image: req.newImage, err: errText(err) }, 'no image labels for release notes');
      }
    }
    const location = releaseNotesLocation(req.releaseUrl, labels, req.newVersion);
    if (location === undefined) return undefined;
    try {
      const notes = await fetchReleaseNotes(location.fetchUrl, { ...deps.fetch, cache });
      const summary =
        deps.summarize === undefined
          ? undefined
          : await summarizeReleaseNotes(
              { image: req.image, version: req.newVersion, title: notes.title, body: notes.body },
              { ...deps.summarize, logger: log },
            );
      const out: { url?: string; excerpt?: string; summary?: string } = { url: notes.url };
      if (notes.body !== '') out.excerpt = notes.body;
      if (summary !== undefined) out.summary = summary;
      return out;
    } catch (err) {
      // Blocked targets deserve a warning (a user pointed us somewhere odd); the rest is routine.
      const level = err instanceof ReleaseNotesError && err.code === 'E_NOTES_BLOCKED' ? 'warn' : 'debug';
      log[level](
        { image: req.newImage, url: location.htmlUrl, err: errText(err) },
        'release notes not fetched',
      );
      return { url: location.htmlUrl };
    }
  };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * createReleaseNotes wired from the configuration: GITHUB_TOKEN, RELEASE_NOTES_ALLOW_PRIVATE and
 * OPEN_AI_*; source labels are read from the registry (anonymously: labels of private images are
 * skipped, a release-url annotation still works for them).
 */
export function releaseNotesFromConfig(deps: {
  config: Pick<Config, 'githubToken' | 'releaseNotesAllowPrivate' | 'openAi'>;
  registry: Pick<RegistryClient, 'getImageLabels'>;
  logger: Logger;
}): ReleaseNotesFn {
  const { config, registry, logger } = deps;
  const notesDeps: ReleaseNotesDeps = {
    logger,
    imageLabels: (image, tag) => registry.getImageLabels(parseImageReference(image), tag),
    fetch: { githubToken: config.githubToken, allowPrivate: config.releaseNotesAllowPrivate },
  };
  if (config.openAi !== undefined) {
    notesDeps.summarize = { url: config.openAi.url, key: config.openAi.key, model: config.openAi.model };
  }
  return createReleaseNotes(notesDeps);
}
