// Builds image blobs, manifests and indexes in memory, to push to a test registry.
import { createHash, randomBytes } from 'node:crypto';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Blob {
  bytes: Buffer;
  digest: string;
  size: number;
  mediaType: string;
}

/** An image ready to push: blobs first, then child manifests, then `manifest` under the tag. */
export interface BuiltImage {
  manifest: Blob;
  blobs: Blob[];
  children: Blob[];
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export function makeBlob(bytes: Buffer, mediaType: string): Blob {
  return {
    bytes,
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    size: bytes.length,
    mediaType,
  };
}

function json(value: unknown, mediaType: string): Blob {
  return makeBlob(Buffer.from(JSON.stringify(value)), mediaType);
}

/** A layer of random bytes: the registry stores layers without looking inside. */
export function makeLayer(mediaType: string = MEDIA.ociLayer): Blob {
  return makeBlob(randomBytes(64), mediaType);
}

export function makeConfig(opts: {
  labels?: Record<string, string>;
  platform?: Platform;
  mediaType?: string;
  layer: Blob;
  /** The config's `created`; null leaves it out. Default 2026-01-01T00:00:00Z. */
  created?: string | null;
}): Blob {
  return json(
    {
      architecture: opts.platform?.architecture ?? 'amd64',
      os: opts.platform?.os ?? 'linux',
      ...(opts.platform?.variant ? { variant: opts.platform.variant } : {}),
      ...(opts.created === null ? {} : { created: opts.created ?? '2026-01-01T00:00:00Z' }),
      config: { Labels: opts.labels ?? {} },
      rootfs: { type: 'layers', diff_ids: [opts.layer.digest] },
    },
    opts.mediaType ?? MEDIA.ociConfig,
  );
}

/** A single-platform image, OCI or Docker v2 schema 2. */
export function buildImage(
  opts: {
    labels?: Record<string, string>;
    platform?: Platform;
    format?: 'oci' | 'docker';
    created?: string | null;
  } = {},
): BuiltImage {
  const docker = opts.format === 'docker';
  const layer = makeLayer(docker ? MEDIA.dockerLayer : MEDIA.ociLayer);
  const config = makeConfig({
    layer,
    ...(opts.labels ? { labels: opts.labels } : {}),
    ...(opts.platform ? { platform: opts.platform } : {}),
    mediaType: docker ? MEDIA.dockerConfig : MEDIA.ociConfig,
    ...(opts.created !== undefined ? { created: opts.created } : {}),
  });
  const mediaType = docker ? MEDIA.dockerManifest : MEDIA.ociManifest;
  const manifest = json(
    {
      schemaVersion: 2,
      mediaType,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    },
    mediaType,
  );
  return { manifest, blobs: [layer, config], children: [] };
}

/** A multi-arch OCI index (or Docker manifest list) over one image per platform. */
export function buildIndex(opts: {
  platforms: Platform[];
  labels?: (p: Platform) => Record<string, string>;
  format?: 'oci' | 'docker';
  created?: (p: Platform) => string | null;
}): BuiltImage {
  const images = opts.platforms.map((platform) =>
    buildImage({
      platform,
      ...(opts.labels ? { labels: opts.labels(platform) } : {}),
      format: opts.format ?? 'oci',
      ...(opts.created ? { created: opts.created(platform) } : {}),
    }),
  );
  const mediaType = opts.format === 'docker' ? MEDIA.dockerList : MEDIA.ociIndex;
  const manifest = json(
    {
      schemaVersion: 2,
      mediaType,
      manifests: images.map((img, i) => ({
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest,
        size: img.manifest.size,
        platform: opts.platforms[i],
      })),
    },
    mediaType,
  );
  return { manifest, blobs: images.flatMap((i) => i.blobs), children: images.map((i) => i.manifest) };
}
