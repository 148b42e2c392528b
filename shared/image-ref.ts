// Container image references, parsed and normalised the way Docker does it
// (github.com/distribution/reference: ParseNormalizedNamed + splitDockerDomain).
import { ImageWatcherError } from './errors.ts';

export interface ImageReference {
  /** Exactly as written in the pod spec. */
  original: string;
  /** As written, without tag/digest: 'nginx', 'ghcr.io/org/app', 'localhost:5000/app'. */
  name: string;
  /** Normalised host[:port]: 'docker.io', 'ghcr.io', 'localhost:5000', '[::1]:5000'. */
  registry: string;
  /** Normalised path: 'library/nginx', 'org/app'. */
  repository: string;
  /** 'latest' when neither tag nor digest was written; undefined for digest-only references. */
  tag: string | undefined;
  /** 'sha256:<64 hex>' when written. */
  digest: string | undefined;
}

/** A reference Docker would refuse; `problem` says what is wrong, `reference` echoes the (shortened) input. */
export class InvalidImageReferenceError extends ImageWatcherError {
  readonly reference: string;
  readonly problem: string;
  constructor(reference: string, problem: string) {
    const shown = shorten(String(reference));
    super('E_IMAGE_REF', `invalid image reference '${shown}': ${problem}`);
    this.reference = shown;
    this.problem = problem;
  }
}

const DEFAULT_REGISTRY = 'docker.io';
const LEGACY_REGISTRY = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
/** distribution/reference NameTotalLengthMax, applied to the normalised name. */
const NAME_TOTAL_LENGTH_MAX = 255;
/** Longest input worth running regexes on: name + ':' + 128-char tag + '@' + sha512 digest, with slack. */
const INPUT_LENGTH_MAX = 1024;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME =
  /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;
const TAG = /^\w[\w.-]{0,127}$/;
const TAG_CHARS = /^[\w.-]+$/;
const HEX = /^[0-9a-fA-F]+$/;
/** A bare image ID is not a repository name (Docker refuses it too). */
const IMAGE_ID = /^[a-f0-9]{64}$/;
const WHITESPACE = /\s/;
const UPPERCASE = /[A-Z]/;

/** Hex lengths of the digest algorithms go-digest accepts; hex must be lowercase. */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

function shorten(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Parses an image reference as written in a pod spec; throws InvalidImageReferenceError naming the problem. */
export function parseImageReference(input: string): ImageReference {
  const fail = (problem: string): never => {
    throw new InvalidImageReferenceError(input, problem);
  };
  if (typeof input !== 'string' || input === '') fail('image reference is empty');
  if (input.length > INPUT_LENGTH_MAX) {
    fail(`image reference is ${input.length} characters long; names are limited to ${NAME_TOTAL_LENGTH_MAX}`);
  }
  if (WHITESPACE.test(input)) fail('image reference must not contain whitespace');
  // `https://docker.io/nginx:1.25` would otherwise fail on the empty "port" after `https:`.
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(input);
  if (scheme)
    fail(`drop the scheme ${scheme[1]}://, an image is named without one (${input.slice(scheme[0].length)})`);
  if (IMAGE_ID.test(input)) fail('a 64-character hexadecimal image ID is not a repository name');

  // name[:tag][@digest]: neither name nor tag may contain '@'.
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = validateDigest(rest.slice(at + 1), fail);
    rest = rest.slice(0, at);
  }

  // A ':' after the last '/' starts the tag; earlier ones belong to a registry port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = validateTag(rest.slice(colon + 1), fail);
    rest = rest.slice(0, colon);
  }
  const name = rest;
  if (name === '') fail('repository name is empty');

  const { registry, path } = splitRegistry(name);
  validateRegistry(registry, fail);
  validatePath(path, fail);
  const repository = registry === DEFAULT_REGISTRY && !path.includes('/') ? OFFICIAL_PREFIX + path : path;

  const canonical = `${registry}/${repository}`;
  if (canonical.length > NAME_TOTAL_LENGTH_MAX) {
    fail(`repository name is ${canonical.length} characters long; the limit is ${NAME_TOTAL_LENGTH_MAX}`);
  }

  return {
    original: input,
    name,
    registry,
    repository,
    tag: tag ?? (digest === undefined ? DEFAULT_TAG : undefined),
    digest,
  };
}

/** Docker's splitDockerDomain, applied to the name without tag or digest. */
function splitRegistry(name: string): { registry: string; path: string } {
  const slash = name.indexOf('/');
  if (slash < 0) return { registry: DEFAULT_REGISTRY, path: name };
  const first = name.slice(0, slash);
  const remainder = name.slice(slash + 1);
  if (first === 'localhost') return { registry: first, path: remainder };
  if (first === LEGACY_REGISTRY) return { registry: DEFAULT_REGISTRY, path: remainder };
  if (first.includes('.') || first.includes(':')) return { registry: first, path: remainder };
  // Docker treats an uppercase first component as a host: Docker Hub namespaces are lowercase.
  if (first.toLowerCase() !== first) return { registry: first, path: remainder };
  return { registry: DEFAULT_REGISTRY, path: name };
}

function validateRegistry(registry: string, fail: (problem: string) => never): void {
  let host = registry;
  let port: string | undefined;
  if (registry.startsWith('[')) {
    const close = registry.indexOf(']');
    if (close < 0) fail(`registry host '${registry}' has an unclosed IPv6 bracket`);
    host = registry.slice(0, close + 1);
    const after = registry.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) fail(`registry '${registry}' has text after the IPv6 address`);
      port = after.slice(1);
    }
    if (!IPV6_HOST.test(host)) fail(`registry host '${host}' is not a valid IPv6 address`);
  } else {
    const colon = registry.indexOf(':');
    if (colon >= 0) {
      host = registry.slice(0, colon);
      port = registry.slice(colon + 1);
    }
    if (!DOMAIN_NAME.test(host)) {
      fail(
        `registry host '${host}' is invalid: use letters, digits, '-' and '.' (e.g. 'registry.example.com')`,
      );
    }
  }
  if (port !== undefined && !PORT.test(port)) fail(`registry port '${port}' must be a number`);
}

function validatePath(path: string, fail: (problem: string) => never): void {
  if (path === '') fail('repository path is empty');
  if (UPPERCASE.test(path)) fail(`repository name must be lowercase: '${shorten(path)}'`);
  for (const component of path.split('/')) {
    if (component === '') fail(`repository path '${shorten(path)}' has an empty component`);
    if (!PATH_COMPONENT.test(component)) {
      fail(
        `repository path component '${shorten(component)}' is invalid: use lowercase letters and digits, ` +
          `separated by '.', '_', '__' or '-'`,
      );
    }
  }
}

function validateTag(tag: string, fail: (problem: string) => never): string {
  if (tag === '') fail('tag is empty');
  if (TAG.test(tag)) return tag;
  if (tag.length > 128) fail(`tag is ${tag.length} characters long; the limit is 128`);
  if (!TAG_CHARS.test(tag)) {
    fail(`tag '${shorten(tag)}' may only contain letters, digits, '_', '.' and '-'`);
  }
  return fail(`tag '${shorten(tag)}' must start with a letter, digit or '_'`);
}

function validateDigest(digest: string, fail: (problem: string) => never): string {
  if (digest === '') fail('digest is empty after @');
  const colon = digest.indexOf(':');
  if (colon < 0) fail(`digest '${shorten(digest)}' must look like 'sha256:<64 hex characters>'`);
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const want = DIGEST_HEX_LENGTH[algorithm];
  if (want === undefined) {
    fail(`digest algorithm '${shorten(algorithm)}' is not supported (sha256, sha384, sha512)`);
  }
  if (hex.length !== want || !HEX.test(hex)) {
    fail(`digest '${shorten(digest)}' is not a valid ${algorithm} digest (${want} hex characters)`);
  }
  if (hex.toLowerCase() !== hex) fail(`digest '${shorten(digest)}' must use lowercase hex characters`);
  return digest;
}

/** `name:tag[@digest]`, keeping the name exactly as the user wrote it. Throws when tag or digest are invalid. */
export function imageWithTag(ref: ImageReference, tag: string, digest?: string): string {
  const fail = (problem: string): never => {
    throw new InvalidImageReferenceError(`${ref.name}:${tag}`, problem);
  };
  validateTag(tag, fail);
  if (digest !== undefined) validateDigest(digest, fail);
  return digest === undefined ? `${ref.name}:${tag}` : `${ref.name}:${tag}@${digest}`;
}

/** Fully qualified repository name: 'docker.io/library/nginx'. Use it as a cache or metrics key. */
export function canonicalName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Fully qualified reference with tag and digest when present: 'docker.io/library/nginx:1.25'. */
export function familiarString(ref: ImageReference): string {
  let s = canonicalName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}
