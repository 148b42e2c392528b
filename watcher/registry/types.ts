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
}

export interface RegistryClient {
  /** Every tag of the repository; deduped per cycle and cached for the TTL. */
  listTags(ref: ImageReference, opts?: RegistryCallOptions): Promise<string[]>;
  /** Digest of a tag (or digest) via HEAD; deduped per cycle. */
  getDigest(ref: ImageReference, reference: string, opts?: RegistryCallOptions): Promise<string>;
  /** `config.Labels` of the image (linux/amd64 of an index, else its first manifest). */
  getImageLabels(
    ref: ImageReference,
    reference: string,
    opts?: RegistryCallOptions,
  ): Promise<Record<string, string>>;
  /** Forget per-cycle memos: the next listTags asks the registry unless the TTL cache still holds it. */
  newCycle(): void;
}

/** Observer that records nothing (CLI without metrics, tests). */
export const noopRegistryObserver: RegistryRequestObserver = { observeRegistryRequest: () => undefined };
