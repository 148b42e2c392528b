import type { ImageReference } from '../../shared/image-ref.ts';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  identityToken?: string;
}

export interface RegistryRequestObserver {
  observeRegistryRequest(e: { registry: string; method: string; code: string; seconds: number }): void;
}

export interface RegistryCallOptions {
  credentials?: RegistryCredentials | undefined;
  /**
   * Stops this caller's wait (rejects with E_REGISTRY_ABORTED, or the signal's RegistryError
   * reason). A request shared with other callers goes on until every caller that joined it stopped.
   */
  signal?: AbortSignal | undefined;
  /** Ask the registry even when the cycle memo or the TTL cache holds an answer (a push event). */
  fresh?: boolean | undefined;
}

/** An image platform as an index lists it. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string | undefined;
}

export type ImageManifestFacts = { kind: 'index'; platforms: Platform[] } | { kind: 'image' };

export interface RegistryClient {
  /**
   * Every valid tag of the repository (distribution grammar, at most 128 characters; others are
   * dropped); deduped per cycle and cached for the TTL. All pages together are bounded in bytes
   * and in time (E_REGISTRY_TIMEOUT after the list deadline); `opts.signal` stops it earlier.
   */
  listTags(ref: ImageReference, opts?: RegistryCallOptions): Promise<string[]>;
  /** Digest of a tag (or digest) via HEAD; deduped per cycle. */
  getDigest(ref: ImageReference, reference: string, opts?: RegistryCallOptions): Promise<string>;
  /** `config.Labels` of the image (linux/amd64 of an index, else its first manifest). */
  getImageLabels(
    ref: ImageReference,
    reference: string,
    opts?: RegistryCallOptions,
  ): Promise<Record<string, string>>;
  /** What a manifest is: an index and its platforms (attestations left out), or an image. One GET. */
  getManifestFacts(
    ref: ImageReference,
    reference: string,
    opts?: RegistryCallOptions,
  ): Promise<ImageManifestFacts>;
  /**
   * The OCI config `created` of an image (for an index, of `platform`, else linux/amd64 or the
   * first); undefined when absent, not a date, or the index lacks the platform.
   */
  getImageCreated(
    ref: ImageReference,
    reference: string,
    platform?: Platform,
    opts?: RegistryCallOptions,
  ): Promise<string | undefined>;
  /** Forget per-cycle memos: the next listTags asks the registry unless the TTL cache still holds it. */
  newCycle(): void;
}

/** A manifest fetched as is (bytes checked against the digest when asked by digest). */
export interface FetchedManifest {
  digest: string;
  mediaType: string | undefined;
  body: Buffer;
}

/** An OCI descriptor as listed by the referrers API or a referrers-tag index. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string | undefined;
  annotations?: Record<string, string> | undefined;
}

/** Raw artefact access (signature verification): same limits, auth and address guard as the rest. */
export interface RegistryArtifacts {
  /** A manifest by tag or digest; E_REGISTRY_NOT_FOUND when there is none. */
  getManifest(ref: ImageReference, reference: string, opts?: RegistryCallOptions): Promise<FetchedManifest>;
  /** A blob by digest, its bytes checked against the digest; at most `maxBytes` (default 4 MiB). */
  getBlob(
    ref: ImageReference,
    digest: string,
    opts?: RegistryCallOptions & { maxBytes?: number },
  ): Promise<Buffer>;
  /**
   * Manifests that refer to `digest` (OCI 1.1 referrers API), filtered by artifact type; from the
   * referrers tag `sha256-<hex>` on registries without the API. Empty when there are none.
   */
  getReferrers(
    ref: ImageReference,
    digest: string,
    opts?: RegistryCallOptions & { artifactType?: string },
  ): Promise<{ descriptors: Descriptor[]; via: 'api' | 'tag' }>;
}

/** Observer that records nothing (CLI without metrics, tests). */
export const noopRegistryObserver: RegistryRequestObserver = { observeRegistryRequest: () => undefined };
