/** Where the release notes of a version live: pure URL work, no I/O. */

/** OCI image label naming the source repository. */
export const SOURCE_LABEL = 'org.opencontainers.image.source';

export interface ReleaseNotesLocation {
  /** What is fetched: GitHub's API for GitHub releases (JSON, no HTML scraping). */
  fetchUrl: string;
  /** What people open. */
  htmlUrl: string;
}

/** Replaces `${tag}` in a release-url template; the tag is URL-encoded (tags may contain `+`). */
export function expandReleaseUrl(template: string, tag: string): string {
  return template.replaceAll('${tag}', encodeURIComponent(tag));
}

const GITHUB_REPO =
  /^(?:https?:\/\/|git\+https:\/\/|git:\/\/|ssh:\/\/git@)?(?:www\.)?github\.com[/:]([\w.-]+)\/([\w.-]+?)(?:\.git)?(?:[/#?].*)?$/i;
const GIT_SSH = /^git@github\.com:([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/i;

/** `org/repo` of a GitHub source URL in any common spelling, or undefined. */
export function githubRepository(source: string): { owner: string; repo: string } | undefined {
  const text = source.trim();
  const m = GIT_SSH.exec(text) ?? GITHUB_REPO.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  return { owner: m[1], repo: m[2] };
}

/** GitHub release URLs for a tag of a repository named by an `org.opencontainers.image.source` label. */
export function githubReleaseUrls(source: string, tag: string): ReleaseNotesLocation | undefined {
  const repo = githubRepository(source);
  if (repo === undefined) return undefined;
  const path = `${repo.owner}/${repo.repo}`;
  const t = encodeURIComponent(tag);
  return {
    fetchUrl: `https://api.github.com/repos/${path}/releases/tags/${t}`,
    htmlUrl: `https://github.com/${path}/releases/tag/${t}`,
  };
}

const API_RELEASE = /^https:\/\/api\.github\.com\/repos\/([\w.-]+)\/([\w.-]+)\/releases\/tags\/([^/?#]+)$/;
const HTML_RELEASE = /^https:\/\/github\.com\/([\w.-]+)\/([\w.-]+)\/releases\/tag\/([^/?#]+)$/;

/**
 * Where to fetch and where to send people for an expanded release URL: a GitHub release page is
 * fetched through the API, an API URL is shown as its page; anything else is both.
 */
export function locate(url: string): ReleaseNotesLocation {
  const api = API_RELEASE.exec(url);
  if (api) return { fetchUrl: url, htmlUrl: `https://github.com/${api[1]}/${api[2]}/releases/tag/${api[3]}` };
  const html = HTML_RELEASE.exec(url);
  if (html)
    return {
      fetchUrl: `https://api.github.com/repos/${html[1]}/${html[2]}/releases/tags/${html[3]}`,
      htmlUrl: url,
    };
  return { fetchUrl: url, htmlUrl: url };
}

/**
 * The release notes of `tag`: from the release-url annotation when set, else derived from the
 * image's source label when it names a GitHub repository; undefined when neither is available.
 */
export function releaseNotesLocation(
  template: string | undefined,
  labels: Readonly<Record<string, string>> | undefined,
  tag: string,
): ReleaseNotesLocation | undefined {
  if (template !== undefined && template !== '') return locate(expandReleaseUrl(template, tag));
  const source = labels?.[SOURCE_LABEL];
  return source === undefined ? undefined : githubReleaseUrls(source, tag);
}
