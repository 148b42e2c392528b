// Finds the image scalars of a YAML file with the `yaml` document API, keeping each scalar's source
// range so that an edit replaces those bytes and nothing else.
import { isAlias, isMap, isScalar, isSeq, parseAllDocuments, parseDocument } from 'yaml';
import type { Document, Node, Scalar, YAMLMap } from 'yaml';
import { ImageWatcherError } from '../../../shared/errors.ts';
import { podSpecPointer } from '../../../shared/pod-spec.ts';
import type { PodSpecKind } from '../../../shared/pod-spec.ts';

export type SiteKind = 'kustomization' | 'manifest' | 'compose' | 'marker';

export interface ImageSite {
  file: string;
  kind: SiteKind;
  /** 1-based. */
  line: number;
  /** As written: a reference, or a bare tag for marker lines / kustomize newTag. */
  image: string;
  /** The image name it belongs to (kustomize `name`, manifest/compose ref name). */
  name?: string;
  workload?: { kind?: string; namespace?: string; name: string };
  container?: string;
  /** kustomization: `newName` when written (the name the cluster runs). */
  newName?: string;
  /** kustomization `digest`, or the digest written after a bare marker tag. */
  digest?: string;
}

export type EditErrorCode = 'E_EDIT_YAML' | 'E_EDIT_NOT_FOUND' | 'E_EDIT_AMBIGUOUS' | 'E_EDIT_UNSUPPORTED';

/** A file that cannot be edited safely; `code` says why. */
export class EditError extends ImageWatcherError {
  declare readonly code: EditErrorCode;
  constructor(code: EditErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Source bytes of one scalar: [start, end) in the text, its quoting and its value. */
export interface ScalarSpan {
  start: number;
  end: number;
  style: 'plain' | 'single' | 'double' | 'block';
  value: string;
}

/** Where a kustomization entry's missing newTag/digest lines go. */
export interface EntryInsert {
  /** Offset of the end of the entry's last line (before its line break). */
  at: number;
  indent: string;
  /** False for flow maps (`- {name: x}`): nothing can be inserted without reformatting. */
  block: boolean;
}

export interface Located {
  site: ImageSite;
  /** The scalar to rewrite; undefined for a kustomization entry without newTag. */
  span: ScalarSpan | undefined;
  /** kustomization only. */
  digestSpan?: ScalarSpan | undefined;
  insert?: EntryInsert | undefined;
}

/** `# image-watcher: NAMESPACE/NAME[/CONTAINER] [image=REPO]`, in Kubernetes names (DNS labels). */
const MARKER =
  /#[ \t]*image-watcher:[ \t]*([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\/([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)(?:\/([a-z0-9](?:[-a-z0-9]*[a-z0-9])?))?((?:[ \t]+[a-z]+=[^\s#]+)*)[ \t]*$/;
const KUSTOMIZATION_FILE = /(^|[\\/])(kustomization\.ya?ml|Kustomization)$/;
const WORKLOAD_KINDS: readonly PodSpecKind[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Pod'];

/** 1-based line numbers of offsets, from one scan of the text (files with thousands of sites). */
export class LineIndex {
  readonly #starts: number[] = [0];
  constructor(text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.#starts.push(i + 1);
  }
  of(offset: number): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function lineEnd(text: string, offset: number): number {
  const nl = text.indexOf('\n', offset);
  const end = nl < 0 ? text.length : nl;
  return end > 0 && text[end - 1] === '\r' ? end - 1 : end;
}

function deref(doc: Document, node: unknown): Node | undefined {
  if (isAlias(node)) return node.resolve(doc);
  return node as Node | undefined;
}

function child(doc: Document, node: unknown, key: string): Node | undefined {
  const map = deref(doc, node);
  if (!isMap(map)) return undefined;
  return deref(doc, map.get(key, true));
}

function stringOf(doc: Document, node: unknown, key: string): string | undefined {
  const n = child(doc, node, key);
  return isScalar(n) && typeof n.value === 'string' ? n.value : undefined;
}

function spanOf(node: Scalar, text: string): ScalarSpan | undefined {
  if (typeof node.value !== 'string' || !node.range) return undefined;
  const [start, end] = node.range;
  const style =
    node.type === 'QUOTE_SINGLE'
      ? 'single'
      : node.type === 'QUOTE_DOUBLE'
        ? 'double'
        : node.type === 'PLAIN'
          ? 'plain'
          : 'block';
  // A plain scalar's range can run to the line's end; the value itself is what is replaced.
  const raw = text.slice(start, end);
  const trimmedEnd = style === 'plain' ? start + raw.trimEnd().length : end;
  return { start, end: trimmedEnd, style, value: node.value };
}

/** Scalar node of `key` in a map, when it is a string scalar. */
function scalarChild(doc: Document, node: unknown, key: string): Scalar | undefined {
  const n = child(doc, node, key);
  return isScalar(n) && typeof n.value === 'string' ? n : undefined;
}

function yamlError(file: string, doc: Document.Parsed): EditError | undefined {
  const error = doc.errors[0];
  if (!error) return undefined;
  const pos = error.linePos?.[0];
  const message = error.message
    .split('\n')[0]!
    .replace(/ at line \d+, column \d+:?$/, '')
    .replace(/:$/, '');
  return new EditError(
    'E_EDIT_YAML',
    `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${message}`,
  );
}

function manifestSites(
  file: string,
  text: string,
  lines: LineIndex,
  doc: Document,
  object: unknown,
  out: Located[],
): void {
  const kind = stringOf(doc, object, 'kind');
  if (kind === 'List') {
    const items = child(doc, object, 'items');
    if (isSeq(items)) for (const item of items.items) manifestSites(file, text, lines, doc, item, out);
    return;
  }
  if (kind === undefined || !(WORKLOAD_KINDS as readonly string[]).includes(kind)) return;
  const metadata = child(doc, object, 'metadata');
  const name = stringOf(doc, metadata, 'name') ?? '(unnamed)';
  const namespace = stringOf(doc, metadata, 'namespace') ?? 'default';
  let podSpec: unknown = object;
  for (const key of podSpecPointer(kind as PodSpecKind)
    .split('/')
    .slice(1)) {
    podSpec = child(doc, podSpec, key);
  }
  for (const field of ['containers', 'initContainers']) {
    const list = child(doc, podSpec, field);
    if (!isSeq(list)) continue;
    for (const entry of list.items) {
      const container = stringOf(doc, entry, 'name');
      const image = scalarChild(doc, entry, 'image');
      const span = image && spanOf(image, text);
      if (container === undefined || !span) continue;
      out.push({
        site: {
          file,
          kind: 'manifest',
          line: lines.of(span.start),
          image: span.value,
          name: refName(span.value),
          workload: { kind, namespace, name },
          container,
        },
        span,
      });
    }
  }
}

function composeSites(
  file: string,
  text: string,
  lines: LineIndex,
  doc: Document,
  root: unknown,
  out: Located[],
): void {
  const services = child(doc, root, 'services');
  if (!isMap(services)) return;
  for (const pair of services.items) {
    const service = isScalar(pair.key) ? String(pair.key.value) : undefined;
    const image = scalarChild(doc, pair.value, 'image');
    const span = image && spanOf(image, text);
    if (service === undefined || !span) continue;
    out.push({
      site: {
        file,
        kind: 'compose',
        line: lines.of(span.start),
        image: span.value,
        name: refName(span.value),
        workload: { name: service },
        container: service,
      },
      span,
    });
  }
}

function entryInsert(text: string, entry: YAMLMap): EntryInsert | undefined {
  const first = entry.items[0];
  const range = entry.range;
  if (!first || !isScalar(first.key) || !first.key.range || !range) return undefined;
  const keyStart = first.key.range[0];
  const indent = text.slice(lineStart(text, keyStart), keyStart).replace(/[^ \t]/g, ' ');
  const last = entry.items[entry.items.length - 1]!;
  const lastNode = (last.value ?? last.key) as Node | null;
  const lastEnd = lastNode?.range?.[1] ?? range[1];
  return { at: lineEnd(text, lastEnd - 1 < keyStart ? keyStart : lastEnd - 1), indent, block: !entry.flow };
}

function kustomizationSites(
  file: string,
  text: string,
  lines: LineIndex,
  doc: Document,
  root: unknown,
  out: Located[],
): void {
  const images = child(doc, root, 'images');
  if (!isSeq(images)) return;
  for (const item of images.items) {
    const entry = deref(doc, item);
    if (!isMap(entry)) continue;
    const nameNode = scalarChild(doc, entry, 'name');
    if (!nameNode?.range) continue;
    const name = nameNode.value as string;
    const newName = stringOf(doc, entry, 'newName');
    const tagNode = child(doc, entry, 'newTag');
    // newTag: 1.25 is a number to YAML but a tag to kustomize: keep the source text.
    const span = isScalar(tagNode) ? spanOf(tagAsString(tagNode, text), text) : undefined;
    const digestNode = scalarChild(doc, entry, 'digest');
    const site: ImageSite = {
      file,
      kind: 'kustomization',
      line: lines.of(span?.start ?? nameNode.range[0]),
      image: span?.value ?? '',
      name,
    };
    if (newName !== undefined) site.newName = newName;
    if (digestNode) site.digest = digestNode.value as string;
    out.push({
      site,
      span,
      digestSpan: digestNode && spanOf(digestNode, text),
      insert: entryInsert(text, entry),
    });
  }
}

/** A plain `newTag: 1.10` is the float 1.1 to YAML; kustomize reads the text. */
function tagAsString(node: Scalar, text: string): Scalar {
  if (typeof node.value === 'string' || !node.range) return node;
  const copy = node.clone() as Scalar;
  copy.value = text.slice(node.range[0], node.range[1]).trim();
  return copy;
}

/** Every value scalar of a document with its span (for marker lines). */
function valueScalars(doc: Document, text: string): ScalarSpan[] {
  const out: ScalarSpan[] = [];
  const walk = (node: unknown): void => {
    if (isMap(node)) {
      for (const pair of node.items) walk(pair.value);
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item);
    } else if (isScalar(node)) {
      const span = spanOf(tagAsString(node, text), text);
      if (span) out.push(span);
    }
  };
  walk(doc.contents);
  return out;
}

/** All scalars, keys too, so that a `#` inside any of them is not taken for a comment. */
function allScalarRanges(doc: Document): [number, number][] {
  const out: [number, number][] = [];
  const walk = (node: unknown): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        walk(pair.key);
        walk(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item);
    } else if (isScalar(node) && node.range) {
      out.push([node.range[0], node.range[1]]);
    }
  };
  walk(doc.contents);
  return out;
}

/** `name=value` options after a marker: only `image=REPO` is known. */
function markerOptions(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.trim().split(/[ \t]+/)) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** `1.2.3` or `1.2.3@sha256:...`: no `:` or `/` before the digest means a bare tag. */
export function isBareTag(value: string): boolean {
  const at = value.indexOf('@');
  const head = at < 0 ? value : value.slice(0, at);
  return head !== '' && !head.includes(':') && !head.includes('/');
}

function refName(value: string): string | undefined {
  const at = value.indexOf('@');
  const head = at < 0 ? value : value.slice(0, at);
  const colon = head.lastIndexOf(':');
  const name = colon > head.lastIndexOf('/') ? head.slice(0, colon) : head;
  return name === '' ? undefined : name;
}

/** Helm's `image: {registry, repository, tag}`: the marked tag's name from its siblings. */
function siblingName(doc: Document, span: ScalarSpan): string | undefined {
  let found: string | undefined;
  const walk = (node: unknown): void => {
    if (found !== undefined) return;
    if (isMap(node)) {
      for (const pair of node.items) {
        const v = pair.value as Node | null;
        if (isScalar(v) && v.range?.[0] === span.start) {
          const repository = stringOf(doc, node, 'repository');
          const registry = stringOf(doc, node, 'registry');
          if (repository !== undefined) found = registry ? `${registry}/${repository}` : repository;
          return;
        }
        walk(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item);
    }
  };
  walk(doc.contents);
  return found;
}

/** The site a marker line names, for the scalar `span` before its `#`. */
function markerSite(
  file: string,
  lines: LineIndex,
  m: RegExpExecArray,
  span: ScalarSpan,
  sibling: () => string | undefined,
): Located {
  const [, namespace, name, container, options] = m;
  const opts = markerOptions(options ?? '');
  const value = span.value;
  const bare = isBareTag(value);
  const site: ImageSite = {
    file,
    kind: 'marker',
    line: lines.of(span.start),
    image: value,
    workload: { namespace: namespace!, name: name! },
  };
  if (container !== undefined) site.container = container;
  const imageName = opts.image ?? (bare ? sibling() : refName(value));
  if (imageName !== undefined) site.name = imageName;
  if (bare && value.includes('@')) site.digest = value.slice(value.indexOf('@') + 1);
  return { site, span };
}

/** Each marker line of the text with its offset: [line start, `#` offset, match]. */
function* markerLines(text: string): Generator<[number, number, RegExpExecArray]> {
  let offset = 0;
  for (const rawLine of text.split('\n')) {
    const start = offset;
    offset += rawLine.length + 1;
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const m = MARKER.exec(line);
    if (m) yield [start, start + m.index, m];
  }
}

function markerSites(
  file: string,
  text: string,
  lines: LineIndex,
  docs: readonly Document[],
  out: Located[],
): void {
  const scalars = docs.flatMap((d) => valueScalars(d, text).map((s) => ({ doc: d, span: s })));
  const ranges = docs.flatMap((d) => allScalarRanges(d));
  for (const [start, hash, m] of markerLines(text)) {
    // A marker inside a scalar (a ConfigMap's script, a quoted string) is text, not a comment.
    if (ranges.some(([a, b]) => hash >= a && hash < b)) continue;
    const onLine = scalars.filter((s) => s.span.start >= start && s.span.end <= hash);
    const hit = onLine[onLine.length - 1];
    if (!hit) continue;
    out.push(markerSite(file, lines, m, hit.span, () => siblingName(hit.doc, hit.span)));
  }
}

/**
 * Marker lines of a file that is not YAML as a whole (a Helm template): each line is read alone,
 * `KEY: VALUE # image-watcher: ...` or `- VALUE # image-watcher: ...`. A value holding template
 * actions (`{{ }}`) is no site: rewriting it would change the template, not a version.
 */
function templateMarkerSites(file: string, text: string, lines: LineIndex, out: Located[]): void {
  for (const [start, hash, m] of markerLines(text)) {
    const before = text.slice(start, hash);
    const lead = /^[ \t]*(?:-[ \t]+)*/.exec(before)![0].length;
    const doc = parseDocument(before.slice(lead));
    if (doc.errors.length > 0) continue;
    const root = doc.contents;
    const node = isMap(root) && root.items.length === 1 ? root.items[0]!.value : root;
    if (!isScalar(node)) continue;
    const span = spanOf(node, before.slice(lead));
    if (!span || span.value.includes('{{')) continue;
    const at = start + lead;
    out.push(
      markerSite(file, lines, m, { ...span, start: span.start + at, end: span.end + at }, () => undefined),
    );
  }
}

/**
 * Every image site of one YAML file, in file order. A file that is not YAML gives its marker lines
 * (marker lines are line-based: a Helm template can carry them), or without any throws
 * EditError(E_EDIT_YAML).
 */
export function locateSites(file: string, text: string): Located[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const err = yamlError(file, doc);
    if (!err) continue;
    const out: Located[] = [];
    if (text.includes('image-watcher:')) templateMarkerSites(file, text, new LineIndex(text), out);
    if (out.length === 0) throw err;
    return out;
  }
  const out: Located[] = [];
  const lines = new LineIndex(text);
  const kustomizationFile = KUSTOMIZATION_FILE.test(file);
  for (const doc of list) {
    const root = doc.contents;
    const kind = stringOf(doc, root, 'kind');
    if (kind === 'Kustomization' || (kustomizationFile && kind === undefined)) {
      kustomizationSites(file, text, lines, doc, root, out);
    } else if (kind !== undefined) {
      manifestSites(file, text, lines, doc, root, out);
    } else {
      composeSites(file, text, lines, doc, root, out);
    }
  }
  const markers: Located[] = [];
  if (text.includes('image-watcher:')) markerSites(file, text, lines, list, markers);
  // A marked scalar is the marker's site: the marker says which workload it belongs to.
  const marked = new Set(markers.map((m) => m.span?.start));
  const all = [...out.filter((l) => l.span === undefined || !marked.has(l.span.start)), ...markers];
  return all.sort((a, b) => a.site.line - b.site.line || (a.span?.start ?? 0) - (b.span?.start ?? 0));
}
