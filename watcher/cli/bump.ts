// `image-watcher bump`: the GitOps editors' sites, the registry through checkImage (the one
// candidate rule), a plan, and with --write the files edited in place.
import { randomBytes } from 'node:crypto';
import { chmod, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { familiarString, parseImageReference } from '../../shared/image-ref.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import type { CandidateRule } from '../../shared/candidate.ts';
import type { TagSelection, VersionChange } from '../../shared/strategy.ts';
import { findImageSites, isBareTag, setSiteVersions } from '../gitops/edit/index.ts';
import type { ImageSite } from '../gitops/edit/index.ts';
import { RegistryError } from '../registry/errors.ts';
import { checkImage } from './check.ts';
import type { CheckDeps } from './check.ts';
import { findTargets, parseYamlDocuments } from './manifests.ts';

export interface BumpFlags {
  strategy: TagSelection['strategy'] | undefined;
  include: TagSelection['include'];
  exclude: TagSelection['exclude'];
}

export type BumpStatus = 'update' | 'current' | 'skipped' | 'error';

export interface BumpRow {
  site: ImageSite;
  status: BumpStatus;
  /** The image asked about: name:tag[@digest]. */
  image: string | undefined;
  strategy: string | undefined;
  current: string | undefined;
  latest: string | undefined;
  change: VersionChange | undefined;
  /** Digest written with the new tag when the file pins one. */
  digest: string | undefined;
  /** skipped: why; error: what failed. */
  message: string | undefined;
  registryError: boolean;
}

type Answer = Pick<BumpRow, 'status' | 'current' | 'latest' | 'change' | 'digest' | 'message'>;

type Target = { ref: ImageReference; selection: CandidateRule } | { skip: string };

/** Annotation settings of each manifest container: its selection, or why it is not bumped. */
function manifestSettings(
  file: string,
  text: string,
  flags: BumpFlags,
): Map<string, CandidateRule | { skip: string }> {
  const out = new Map<string, CandidateRule | { skip: string }>();
  const found = findTargets(file, parseYamlDocuments(file, text));
  for (const t of found.targets) {
    out.set(`${t.namespace}/${t.kind}/${t.name}/${t.container}`, {
      strategy: flags.strategy ?? t.settings.strategy,
      include: flags.include ?? t.settings.include,
      exclude: flags.exclude ?? t.settings.exclude,
      // The manifest's last-failed-version, as scan and the watcher skip it.
      failed: t.failed,
    });
  }
  for (const t of found.disabled) {
    out.set(`${t.namespace}/${t.kind}/${t.name}/${t.container}`, { skip: 'image-watcher/mode is DISABLED' });
  }
  for (const p of found.problems) {
    // Keyed by workload: every container of it is skipped with the annotation problem.
    out.set(`${p.namespace}/${p.kind}/${p.name}`, { skip: p.message });
  }
  return out;
}

function flagSelection(flags: BumpFlags): TagSelection {
  return { strategy: flags.strategy ?? 'ALL', include: flags.include, exclude: flags.exclude };
}

/** What to ask the registry about for one site, or why it is skipped. */
function targetOf(
  site: ImageSite,
  flags: BumpFlags,
  settings: Map<string, CandidateRule | { skip: string }>,
): Target {
  let written: string;
  switch (site.kind) {
    case 'kustomization': {
      if (site.image === '') return { skip: 'no newTag: the base manifest decides the tag' };
      written = `${site.newName ?? site.name}:${site.image}${site.digest ? `@${site.digest}` : ''}`;
      break;
    }
    case 'marker': {
      if (!isBareTag(site.image)) {
        written = site.image;
      } else if (site.name === undefined) {
        return { skip: 'a bare tag: name its image on the marker with image=REPOSITORY' };
      } else {
        written = `${site.name}:${site.image}`;
      }
      break;
    }
    default:
      written = site.image;
  }
  let ref: ImageReference;
  try {
    ref = parseImageReference(written);
  } catch (err) {
    return { skip: (err as Error).message };
  }
  if (ref.tag === undefined) return { skip: 'pins only a digest: no version to compare' };
  if (site.kind !== 'manifest') return { ref, selection: flagSelection(flags) };
  const w = site.workload!;
  const key = `${w.namespace}/${w.kind}/${w.name}`;
  const own = settings.get(`${key}/${site.container}`) ?? settings.get(key);
  if (own === undefined) return { skip: 'not in the image-watcher/containers annotation' };
  if ('skip' in own) return own;
  return { ref, selection: own };
}

function rowBase(site: ImageSite): BumpRow {
  return {
    site,
    status: 'skipped',
    image: undefined,
    strategy: undefined,
    current: undefined,
    latest: undefined,
    change: undefined,
    digest: undefined,
    message: undefined,
    registryError: false,
  };
}

/**
 * Sites of every file (throws EditError on a file that is not YAML), one registry answer per
 * image and selection (the client shares one tag list per repository), one row per site.
 */
export async function planBump(
  deps: CheckDeps,
  files: readonly { file: string; text: string }[],
  flags: BumpFlags,
  concurrency = 8,
): Promise<BumpRow[]> {
  const limit = pLimit(concurrency);
  const asked = new Map<string, Promise<Answer | Error>>();
  const rows: Promise<BumpRow>[] = [];
  for (const { file, text } of files) {
    const sites = findImageSites(file, text);
    const settings = sites.some((s) => s.kind === 'manifest')
      ? manifestSettings(file, text, flags)
      : new Map<string, CandidateRule | { skip: string }>();
    const seen = new Set<string>();
    for (const site of sites) {
      // An alias shared by two containers is one scalar: one row.
      const id = `${site.line}\0${site.kind}\0${site.image}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const target = targetOf(site, flags, settings);
      if ('skip' in target) {
        rows.push(Promise.resolve({ ...rowBase(site), message: target.skip }));
        continue;
      }
      const { ref, selection } = target;
      const key = [
        familiarString(ref),
        selection.strategy,
        selection.include?.source ?? '',
        selection.exclude?.source ?? '',
        [...(selection.failed ?? [])].sort().join(','),
      ].join('\0');
      let answer = asked.get(key);
      if (!answer) {
        answer = limit(async (): Promise<Answer | Error> => {
          try {
            const r = await checkImage(deps, ref, selection);
            return {
              status: r.updateAvailable ? 'update' : 'current',
              current: r.current,
              latest: r.latest,
              change: r.change,
              // Pinned in the file: pin the new version too.
              digest: r.updateAvailable && ref.digest !== undefined ? r.digest : undefined,
              message: r.note,
            };
          } catch (err) {
            return err instanceof Error ? err : new Error(String(err));
          }
        });
        asked.set(key, answer);
      }
      rows.push(
        answer.then((a): BumpRow => {
          const base = { ...rowBase(site), image: ref.original, strategy: selection.strategy };
          if (!(a instanceof Error)) return { ...base, ...a };
          return {
            ...base,
            status: 'error',
            current: ref.tag,
            message: a.message,
            registryError: a instanceof RegistryError,
          };
        }),
      );
    }
  }
  return Promise.all(rows);
}

/** The new text of each file with updates (pure; EditError when a site cannot be rewritten). */
export function applyBump(
  files: readonly { file: string; text: string }[],
  rows: readonly BumpRow[],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const { file, text } of files) {
    const edits = rows
      .filter((r) => r.status === 'update' && r.site.file === file)
      .map((r) => ({
        site: r.site,
        to: r.digest === undefined ? { tag: r.latest! } : { tag: r.latest!, digest: r.digest },
      }));
    if (edits.length === 0) continue;
    const next = setSiteVersions(file, text, edits);
    if (next !== text) out.set(file, next);
  }
  return out;
}

/** Temp file in the same folder, same mode, then rename: a reader sees the old or the new file. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  // A symlinked file stays a symlink: the file it points to is replaced.
  const path = await realpath(file);
  const { mode } = await stat(path);
  const tmp = join(dirname(path), `.${basename(path)}.image-watcher-${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(tmp, text, { flag: 'wx', mode: mode & 0o7777 });
    await chmod(tmp, mode & 0o7777);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

function versionOf(r: BumpRow): string {
  return r.digest === undefined ? (r.latest ?? '') : `${r.latest}@${r.digest.slice(0, 19)}…`;
}

/** The plan for people: one line per change, then skipped sites and errors. */
export function formatPlan(rows: readonly BumpRow[], written: boolean): string {
  const updates = rows.filter((r) => r.status === 'update');
  const lines = updates.map(
    (r) =>
      `${r.site.file}:${r.site.line}  ${r.image ?? r.site.image}  ${r.current} -> ${versionOf(r)}  (${r.change ?? 'update'})`,
  );
  for (const r of rows) {
    if (r.status === 'skipped') lines.push(`${r.site.file}:${r.site.line}  skipped: ${r.message}`);
    if (r.status === 'error') lines.push(`${r.site.file}:${r.site.line}  ${r.image}  error: ${r.message}`);
  }
  const current = rows.filter((r) => r.status === 'current').length;
  const files = new Set(updates.map((r) => r.site.file)).size;
  lines.push(
    updates.length === 0
      ? `nothing to change: ${current} up to date`
      : `${updates.length} change${updates.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}` +
          (written ? ', written' : '; run with --write to apply') +
          `; ${current} up to date`,
  );
  return lines.join('\n');
}

/** The JSON of a row: every field present, null where not known. */
export function bumpRowJson(r: BumpRow): Record<string, unknown> {
  const w = r.site.workload;
  return {
    file: r.site.file,
    line: r.site.line,
    kind: r.site.kind,
    written: r.site.image,
    image: r.image ?? null,
    workload: w ? [w.namespace, w.kind, w.name].filter((p) => p !== undefined).join('/') : null,
    container: r.site.container ?? null,
    status: r.status,
    strategy: r.strategy ?? null,
    current: r.current ?? null,
    latest: r.latest ?? null,
    change: r.change ?? null,
    digest: r.digest ?? null,
    message: r.message ?? null,
  };
}
