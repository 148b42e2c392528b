// GitOps file editors: pure, text in and text out. Only the bytes of the one scalar that holds the
// version change; comments, order, quoting, anchors and line endings stay as they were.
import { canonicalName, imageWithTag, parseImageReference } from '../../../shared/image-ref.ts';
import type { ImageReference } from '../../../shared/image-ref.ts';
import { EditError, isBareTag, locateSites } from './locate.ts';
import type { ImageSite, Located, ScalarSpan } from './locate.ts';

export { EditError, isBareTag } from './locate.ts';
export type { EditErrorCode, ImageSite, SiteKind } from './locate.ts';

export interface EditRequest {
  workload: { kind: string; namespace: string; name: string };
  container: string;
  /** The running image (shared/image-ref.ts). */
  image: ImageReference;
  /** The new version. */
  to: { tag: string; digest?: string };
}

/** Every image site of one YAML file, in file order; throws EditError(E_EDIT_YAML) on bad YAML. */
export function findImageSites(file: string, text: string): ImageSite[] {
  return locateSites(file, text).map((l) => l.site);
}

/** 'docker.io/library/nginx' for 'nginx', undefined for what is not an image name. */
export function canonicalOf(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  try {
    return canonicalName(parseImageReference(name));
  } catch {
    return undefined;
  }
}

function describe(req: EditRequest): string {
  const w = req.workload;
  return `${w.namespace}/${w.kind}/${w.name} container ${req.container} (${canonicalName(req.image)})`;
}

function where(l: Located): string {
  return `${l.site.file}:${l.site.line}`;
}

/** Does this site hold the image of that workload's container? */
function matches(l: Located, req: EditRequest): boolean {
  const s = l.site;
  const running = canonicalName(req.image);
  switch (s.kind) {
    case 'manifest':
      return (
        s.workload?.kind === req.workload.kind &&
        s.workload.namespace === req.workload.namespace &&
        s.workload.name === req.workload.name &&
        s.container === req.container
      );
    case 'compose':
      return (
        canonicalOf(s.name) === running &&
        (s.container === req.container || s.container === req.workload.name)
      );
    case 'kustomization':
      // The cluster runs newName when it is set; the entry's name is what the base wrote.
      return canonicalOf(s.newName ?? s.name) === running || canonicalOf(s.name) === running;
    case 'marker': {
      if (s.workload?.namespace !== req.workload.namespace || s.workload.name !== req.workload.name) {
        return false;
      }
      if (s.container !== undefined) return s.container === req.container;
      // No container named: the image name must agree when it is known.
      const name = canonicalOf(s.name);
      return name === undefined || name === running;
    }
  }
}

/**
 * The matches that count: a kustomization `images:` entry overrides the base manifests' image of
 * the same name (kustomize rewrites it), so those manifest sites are not the place to edit.
 */
function effective(found: Located[]): Located[] {
  const overridden = new Set(
    found.filter((l) => l.site.kind === 'kustomization').map((l) => canonicalOf(l.site.name)),
  );
  if (overridden.size === 0) return found;
  return found.filter((l) => l.site.kind !== 'manifest' || !overridden.has(canonicalOf(l.site.name)));
}

function pick(found: Located[], req: EditRequest, files: readonly string[]): Located {
  const hits = effective(found);
  if (hits.length === 0) {
    throw new EditError('E_EDIT_NOT_FOUND', `no image of ${describe(req)} in ${files.join(', ')}`);
  }
  if (hits.length > 1) {
    throw new EditError(
      'E_EDIT_AMBIGUOUS',
      `the image of ${describe(req)} is written ${hits.length} times (${hits.map(where).join(', ')}); ` +
        'mark the one to edit with # image-watcher: NAMESPACE/NAME/CONTAINER or point git-path at one file',
    );
  }
  return hits[0]!;
}

/** The scalar written again in its own quoting; refuses what cannot be rewritten byte for byte. */
function rewrite(text: string, span: ScalarSpan, value: string, file: string): string {
  const source = text.slice(span.start, span.end);
  const expected =
    span.style === 'plain'
      ? span.value
      : span.style === 'single'
        ? `'${span.value.replace(/'/g, "''")}'`
        : span.style === 'double'
          ? `"${span.value}"`
          : undefined;
  if (expected === undefined || source !== expected) {
    throw new EditError(
      'E_EDIT_UNSUPPORTED',
      `${file}:${lineNumber(text, span.start)}: the image is written as a block scalar, over several lines ` +
        'or with escapes; write it on one line to let image-watcher edit it',
    );
  }
  const written = span.style === 'plain' ? value : span.style === 'single' ? `'${value}'` : `"${value}"`;
  return text.slice(0, span.start) + written + text.slice(span.end);
}

function lineNumber(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

/** `tag` or `tag@digest`, validated as image-ref.ts validates them. */
function versionText(to: EditRequest['to']): string {
  const full = imageWithTag(parseImageReference('x'), to.tag, to.digest);
  return full.slice(2);
}

function invalid(file: string, site: ImageSite, err: unknown): EditError {
  return new EditError(
    'E_EDIT_UNSUPPORTED',
    `${file}:${site.line}: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

function applyKustomization(text: string, l: Located, to: EditRequest['to']): string {
  const { site, insert } = l;
  if (to.digest === undefined && site.digest !== undefined) {
    throw new EditError(
      'E_EDIT_UNSUPPORTED',
      `${site.file}:${site.line}: the images entry ${site.name ?? ''} pins a digest; the new version's digest is needed`,
    );
  }
  // Edits from the end of the text backwards so that earlier offsets stay valid.
  const edits: { at: number; apply: (t: string) => string }[] = [];
  const inserts: string[] = [];
  if (l.span) edits.push({ at: l.span.start, apply: (t) => rewrite(t, l.span!, to.tag, site.file) });
  else inserts.push(`newTag: "${to.tag}"`);
  if (to.digest !== undefined) {
    const digest = to.digest;
    if (l.digestSpan)
      edits.push({ at: l.digestSpan.start, apply: (t) => rewrite(t, l.digestSpan!, digest, site.file) });
    else inserts.push(`digest: ${digest}`);
  }
  if (inserts.length > 0) {
    if (!insert?.block) {
      throw new EditError(
        'E_EDIT_UNSUPPORTED',
        `${site.file}:${site.line}: the images entry ${site.name ?? ''} is a flow map: ${inserts.map((l) => l.split(':')[0]).join(' and ')} cannot be added; write it as a block map`,
      );
    }
    const eol = text.includes('\r\n') ? '\r\n' : '\n';
    const added = inserts.map((line) => eol + insert.indent + line).join('');
    edits.push({ at: insert.at, apply: (t) => t.slice(0, insert.at) + added + t.slice(insert.at) });
  }
  edits.sort((a, b) => b.at - a.at);
  return edits.reduce((t, e) => e.apply(t), text);
}

/** The text with one located site set to the new version. */
function apply(text: string, l: Located, to: EditRequest['to']): string {
  const { site } = l;
  let version: string;
  try {
    version = versionText(to);
  } catch (err) {
    throw invalid(site.file, site, err);
  }
  if (site.kind === 'kustomization') return applyKustomization(text, l, to);
  const span = l.span!;
  if (site.kind === 'marker' && isBareTag(span.value)) return rewrite(text, span, version, site.file);
  let ref: ImageReference;
  try {
    ref = parseImageReference(span.value);
  } catch (err) {
    throw invalid(site.file, site, err);
  }
  return rewrite(text, span, imageWithTag(ref, to.tag, to.digest), site.file);
}

/**
 * Edits exactly one site for that workload/container; everything else byte for byte. The site
 * returned is the one edited, as it was before the edit.
 */
export function editFile(file: string, text: string, req: EditRequest): { text: string; site: ImageSite } {
  const hit = pick(
    locateSites(file, text).filter((l) => matches(l, req)),
    req,
    [file],
  );
  return { text: apply(text, hit, req.to), site: hit.site };
}

/**
 * Same over several files (a folder's YAML files): exactly one site across all, else EditError.
 * A file that is not YAML and has no marker line (a Helm template beside its values) is skipped;
 * it is named in the refusal only when nothing matched.
 */
export function editFiles(
  files: ReadonlyMap<string, string>,
  req: EditRequest,
): { file: string; text: string; site: ImageSite } {
  const found: Located[] = [];
  const skipped = new Map<string, EditError>();
  for (const [file, text] of files) {
    try {
      found.push(...locateSites(file, text).filter((l) => matches(l, req)));
    } catch (err) {
      if (!(err instanceof EditError) || err.code !== 'E_EDIT_YAML') throw err;
      skipped.set(file, err);
    }
  }
  if (found.length === 0 && skipped.size > 0) {
    // A chart has many templates: three reasons say enough.
    const all = [...skipped.values()].map((e) => e.message);
    const why = all.slice(0, 3).join('; ') + (all.length > 3 ? `; and ${all.length - 3} more` : '');
    // Nothing could be read at all: the YAML is the problem, not the place.
    if (skipped.size === files.size) throw new EditError('E_EDIT_YAML', why);
    const read = [...files.keys()].filter((f) => !skipped.has(f));
    throw new EditError(
      'E_EDIT_NOT_FOUND',
      `no image of ${describe(req)} in ${read.join(', ')} (skipped, not YAML: ${why})`,
    );
  }
  const hit = pick(found, req, [...files.keys()]);
  const file = hit.site.file;
  return { file, text: apply(files.get(file)!, hit, req.to), site: hit.site };
}

function sameSite(l: Located, site: ImageSite): boolean {
  return l.site.line === site.line && l.site.kind === site.kind && l.site.image === site.image;
}

/**
 * Sets one site found by findImageSites (same file, line, kind and value) to a new version; for
 * `bump`, which picks sites itself. Throws EditError when the site is no longer there.
 */
export function setSiteVersion(text: string, site: ImageSite, to: EditRequest['to']): string {
  return setSiteVersions(site.file, text, [{ site, to }]);
}

/** Several sites of one file in one pass (the file is parsed once); same rules as setSiteVersion. */
export function setSiteVersions(
  file: string,
  text: string,
  edits: readonly { site: ImageSite; to: EditRequest['to'] }[],
): string {
  const located = locateSites(file, text);
  const planned = edits.map(({ site, to }) => {
    const hit = located.find((l) => sameSite(l, site));
    if (!hit)
      throw new EditError('E_EDIT_NOT_FOUND', `${file}:${site.line}: ${site.image} is no longer there`);
    return { hit, to };
  });
  // Sites do not overlap: editing from the end backwards keeps the earlier offsets valid.
  const offset = (l: Located): number => l.span?.start ?? l.digestSpan?.start ?? l.insert?.at ?? 0;
  planned.sort((a, b) => offset(b.hit) - offset(a.hit));
  return planned.reduce((t, p) => apply(t, p.hit, p.to), text);
}
