import { isIndexMediaType } from './media-types.ts';

/** What we need from a manifest or index; everything else is ignored. */
export type ParsedManifest =
  | {
      kind: 'index';
      manifests: {
        digest: string;
        os?: string | undefined;
        architecture?: string | undefined;
        variant?: string | undefined;
      }[];
    }
  | { kind: 'image'; configDigest: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a manifest body; undefined when it is neither an index nor an image manifest with a config. */
export function parseManifest(body: unknown, contentType: string | undefined): ParsedManifest | undefined {
  if (!isRecord(body)) return undefined;
  const mediaType = typeof body.mediaType === 'string' ? body.mediaType : contentType?.split(';')[0]?.trim();
  if (isIndexMediaType(mediaType) || (mediaType === undefined && Array.isArray(body.manifests))) {
    if (!Array.isArray(body.manifests)) return undefined;
    const manifests = [];
    for (const m of body.manifests as unknown[]) {
      if (!isRecord(m) || typeof m.digest !== 'string') continue;
      const platform = isRecord(m.platform) ? m.platform : {};
      manifests.push({
        digest: m.digest,
        os: typeof platform.os === 'string' ? platform.os : undefined,
        architecture: typeof platform.architecture === 'string' ? platform.architecture : undefined,
        variant: typeof platform.variant === 'string' ? platform.variant : undefined,
      });
    }
    return { kind: 'index', manifests };
  }
  if (isRecord(body.config) && typeof body.config.digest === 'string') {
    return { kind: 'image', configDigest: body.config.digest };
  }
  return undefined;
}

/** linux/amd64 when the index has it (labels are the same across platforms in practice), else the first entry. */
export function pickPlatform(
  manifests: readonly { digest: string; os?: string | undefined; architecture?: string | undefined }[],
): string | undefined {
  const preferred = manifests.find((m) => m.os === 'linux' && m.architecture === 'amd64');
  return (preferred ?? manifests[0])?.digest;
}

/** `config.Labels` of an image config blob, string values only. */
export function labelsFromConfig(body: unknown): Record<string, string> {
  if (!isRecord(body) || !isRecord(body.config) || !isRecord(body.config.Labels)) return {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(body.config.Labels)) if (typeof v === 'string') labels[k] = v;
  return labels;
}

/** Same os, architecture and variant (an absent variant matches only an absent one). */
export function samePlatform(
  a: { os?: string | undefined; architecture?: string | undefined; variant?: string | undefined },
  b: { os?: string | undefined; architecture?: string | undefined; variant?: string | undefined },
): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/** The config's `created` (RFC 3339) when it is a valid date; undefined otherwise. */
export function createdFromConfig(body: unknown): string | undefined {
  if (!isRecord(body) || typeof body.created !== 'string') return undefined;
  return Number.isFinite(Date.parse(body.created)) ? body.created : undefined;
}
