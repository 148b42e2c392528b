// Registry push events, parsed from each source's documented payload into one shape: which
// repository (canonical name), which tag, and the digest and time when the source says them.
// Pure: the receiver (receiver.ts) authenticates and validates against SCHEMAS first.
import { ImageWatcherError } from '../../shared/errors.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { canonicalName, parseImageReference } from '../../shared/image-ref.ts';

export const SOURCES = [
  'distribution',
  'dockerhub',
  'harbor',
  'quay',
  'github',
  'gitlab',
  'acr',
  'cloudevents',
] as const;
export type Source = (typeof SOURCES)[number];

/**
 * How each source proves it knows REGISTRY_WEBHOOK_TOKEN: a bearer header where the source can
 * send a header, its own HMAC where it signs, the URL (`?token=`) only where it can do neither.
 */
export type AuthMode = 'bearer' | 'hmac-sha256' | 'url-token';
export const SOURCE_AUTH: Readonly<Record<Source, AuthMode>> = {
  distribution: 'bearer',
  dockerhub: 'url-token',
  harbor: 'bearer',
  quay: 'url-token',
  github: 'hmac-sha256',
  gitlab: 'bearer',
  acr: 'bearer',
  cloudevents: 'bearer',
};

export interface PushEvent {
  /** Canonical repository, as the workload index keys it: 'docker.io/library/nginx'. */
  repository: string;
  ref: ImageReference;
  tag: string;
  digest: string | undefined;
  /** The source's event id, when it has one. */
  id: string | undefined;
  /** When the push happened (ms since the epoch), when the source says. */
  at: number | undefined;
}

export interface ParsedPayload {
  events: PushEvent[];
  /** Entries that are not tag pushes (pulls, deletes, blob uploads, pushes by digest). */
  ignored: number;
}

export class PushPayloadError extends ImageWatcherError {
  constructor(message: string) {
    super('E_PUSH_PAYLOAD', message);
  }
}

type Json = Record<string, unknown>;

const str = { type: 'string', minLength: 1, maxLength: 1024 } as const;
const DIGEST = /^sha(256|384|512):[a-f0-9]{64,128}$/;
const TAG = /^\w[\w.-]{0,127}$/;

/** The distribution notification envelope (also ACR's single event and GitLab's registry). */
const distributionEvent = {
  type: 'object',
  required: ['action', 'target'],
  properties: {
    id: str,
    timestamp: str,
    action: str,
    target: {
      type: 'object',
      required: ['repository'],
      properties: { repository: str, tag: str, digest: str, url: str, mediaType: str },
    },
    request: { type: 'object', properties: { host: str } },
  },
} as const;

/** JSON schema of each source's body (fastify validates before parsing here). */
export const SCHEMAS: Readonly<Record<Source, object>> = {
  distribution: {
    type: 'object',
    required: ['events'],
    properties: { events: { type: 'array', maxItems: 100, items: distributionEvent } },
  },
  gitlab: {
    type: 'object',
    required: ['events'],
    properties: { events: { type: 'array', maxItems: 100, items: distributionEvent } },
  },
  acr: distributionEvent,
  dockerhub: {
    type: 'object',
    required: ['push_data', 'repository'],
    properties: {
      push_data: {
        type: 'object',
        required: ['tag'],
        properties: { tag: str, pushed_at: { type: 'number' } },
      },
      repository: { type: 'object', required: ['repo_name'], properties: { repo_name: str } },
    },
  },
  harbor: {
    type: 'object',
    required: ['type', 'event_data'],
    properties: {
      type: str,
      occur_at: { type: 'number' },
      event_data: {
        type: 'object',
        required: ['resources'],
        properties: {
          resources: {
            type: 'array',
            maxItems: 100,
            items: {
              type: 'object',
              required: ['resource_url'],
              properties: { tag: str, digest: str, resource_url: str },
            },
          },
        },
      },
    },
  },
  quay: {
    type: 'object',
    required: ['docker_url', 'updated_tags'],
    properties: {
      docker_url: str,
      // A list in current Quay, an object tag -> image id in old payloads.
      updated_tags: { anyOf: [{ type: 'array', maxItems: 100, items: str }, { type: 'object' }] },
    },
  },
  github: {
    type: 'object',
    required: ['action'],
    properties: {
      action: str,
      package: { type: 'object' },
      registry_package: { type: 'object' },
    },
  },
  cloudevents: {
    type: 'object',
    properties: { specversion: str, type: str, id: str, source: str, time: str, data: {} },
  },
};

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function time(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e11 ? v * 1000 : v; // seconds or ms
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** One event from a host, a repository path and a tag; undefined when they do not name an image. */
function event(
  host: string,
  repository: string,
  tag: unknown,
  digest: unknown,
  id: unknown,
  at: number | undefined,
): PushEvent | undefined {
  const t = text(tag);
  if (t === undefined || !TAG.test(t)) return undefined;
  let ref: ImageReference;
  try {
    ref = parseImageReference(`${host}/${repository.toLowerCase()}:${t}`);
  } catch {
    return undefined;
  }
  const d = text(digest);
  return {
    repository: canonicalName(ref),
    ref,
    tag: t,
    digest: d !== undefined && DIGEST.test(d) ? d : undefined,
    id: text(id),
    at,
  };
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}

/** Pushes of a manifest by tag in distribution envelopes; `host` names the registry. */
function distributionEvents(list: unknown[], out: ParsedPayload): void {
  for (const raw of list) {
    const e = obj(raw);
    const target = obj(e?.target);
    if (!e || !target || e.action !== 'push' || text(target.tag) === undefined) {
      out.ignored++;
      continue;
    }
    // request.host is the name the pusher used, i.e. the one image references carry.
    const host = text(obj(e.request)?.host) ?? hostOf(text(target.url));
    const repo = text(target.repository);
    const ev =
      host && repo ? event(host, repo, target.tag, target.digest, e.id, time(e.timestamp)) : undefined;
    if (ev) out.events.push(ev);
    else out.ignored++;
  }
}

function imageEvent(imageUrl: string, tag: unknown, digest: unknown, id: unknown, at: number | undefined) {
  // 'harbor.example.com/library/nginx:1.25' or '...@sha256:...': host and path from the reference.
  try {
    const ref = parseImageReference(imageUrl);
    return event(ref.registry, ref.repository, tag ?? ref.tag, digest ?? ref.digest, id, at);
  } catch {
    return undefined;
  }
}

function harborData(data: Json | undefined, at: number | undefined, out: ParsedPayload): void {
  for (const raw of Array.isArray(data?.resources) ? (data.resources as unknown[]) : []) {
    const r = obj(raw);
    const url = text(r?.resource_url);
    const ev = r && url ? imageEvent(url, text(r.tag), r.digest, undefined, at) : undefined;
    if (ev) out.events.push(ev);
    else out.ignored++;
  }
}

/** ECR through EventBridge: an 'ECR Image Action' PUSH with result SUCCESS. */
function ecrEvent(data: Json, out: ParsedPayload): boolean {
  if (data['detail-type'] !== 'ECR Image Action') return false;
  const d = obj(data.detail);
  const account = text(data.account);
  const region = text(data.region);
  const repo = text(d?.['repository-name']);
  if (!d || d['action-type'] !== 'PUSH' || d.result !== 'SUCCESS' || !account || !region || !repo) {
    out.ignored++;
    return true;
  }
  const ev = event(
    `${account}.dkr.ecr.${region}.amazonaws.com`,
    repo,
    d['image-tag'],
    d['image-digest'],
    data.id,
    time(data.time),
  );
  if (ev) out.events.push(ev);
  else out.ignored++;
  return true;
}

/** What the receiver hands over besides the body: a few headers some sources need. */
export interface PayloadHeaders {
  'x-github-event'?: string | undefined;
  'ce-type'?: string | undefined;
  'ce-id'?: string | undefined;
  'ce-time'?: string | undefined;
  'ce-specversion'?: string | undefined;
}

/** The tag pushes in a validated body; throws PushPayloadError when it names nothing usable. */
export function parsePayload(source: Source, body: unknown, headers: PayloadHeaders = {}): ParsedPayload {
  const out: ParsedPayload = { events: [], ignored: 0 };
  const b = obj(body);
  if (!b) throw new PushPayloadError('the body is not a JSON object');
  switch (source) {
    case 'distribution':
    case 'gitlab':
      distributionEvents(Array.isArray(b.events) ? b.events : [], out);
      break;
    case 'acr':
      distributionEvents([b], out);
      break;
    case 'dockerhub': {
      const push = obj(b.push_data);
      const repo = text(obj(b.repository)?.repo_name);
      // Official images are 'nginx' here and 'library/nginx' in the registry (parseImageReference).
      const ev = repo
        ? event('docker.io', repo, push?.tag, undefined, undefined, time(push?.pushed_at))
        : undefined;
      if (ev) out.events.push(ev);
      else out.ignored++;
      break;
    }
    case 'harbor':
      if (b.type !== 'PUSH_ARTIFACT' && b.type !== 'pushImage') out.ignored++;
      else harborData(obj(b.event_data), time(b.occur_at), out);
      break;
    case 'quay': {
      const url = text(b.docker_url) ?? '';
      const tags = Array.isArray(b.updated_tags) ? b.updated_tags : Object.keys(obj(b.updated_tags) ?? {});
      for (const tag of tags) {
        const ev = imageEvent(url, tag, undefined, undefined, undefined);
        if (ev) out.events.push(ev);
        else out.ignored++;
      }
      break;
    }
    case 'github': {
      const kind = headers['x-github-event'];
      const pkg = obj(b.package) ?? obj(b.registry_package);
      const type = text(pkg?.package_type)?.toLowerCase();
      if (
        (kind !== undefined && kind !== 'package' && kind !== 'registry_package') ||
        (b.action !== 'published' && b.action !== 'updated') ||
        type !== 'container'
      ) {
        out.ignored++;
        break;
      }
      const version = obj(pkg?.package_version);
      const tagInfo = obj(obj(version?.container_metadata)?.tag);
      const owner = text(obj(pkg?.owner)?.login) ?? text(pkg?.namespace);
      const name = text(pkg?.name);
      const url = text(version?.package_url) ?? (owner && name ? `ghcr.io/${owner}/${name}` : undefined);
      const ev = url
        ? imageEvent(
            url,
            text(tagInfo?.name),
            tagInfo?.digest ?? version?.version,
            version?.id,
            time(version?.updated_at),
          )
        : undefined;
      if (ev) out.events.push(ev);
      else out.ignored++;
      break;
    }
    case 'cloudevents': {
      // Structured mode (the envelope is the body) or binary mode (ce-* headers, the body is data).
      const binary = headers['ce-specversion'] !== undefined;
      const type = binary ? headers['ce-type'] : text(b.type);
      const data = binary ? b : obj(b.data);
      if (!data) {
        out.ignored++;
        break;
      }
      if (type?.startsWith('harbor.artifact.pushed') === true) {
        harborData(data, time(binary ? headers['ce-time'] : b.time), out);
      } else if (!ecrEvent(data, out)) {
        out.ignored++;
      }
      break;
    }
  }
  return out;
}
