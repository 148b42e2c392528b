import { ImageWatcherError } from '../../shared/errors.ts';

export type RegistryErrorCode =
  | 'E_REGISTRY_AUTH'
  | 'E_REGISTRY_NOT_FOUND'
  | 'E_REGISTRY_UNAVAILABLE'
  | 'E_REGISTRY_RESPONSE'
  | 'E_REGISTRY_TIMEOUT'
  | 'E_REGISTRY_ABORTED';

/**
 * Anything that went wrong while asking a registry. Messages name the registry and repository
 * and say what to do; they never contain credentials or tokens.
 */
export class RegistryError extends ImageWatcherError {
  declare readonly code: RegistryErrorCode;
  /** HTTP status of the last answer, when there was one. */
  readonly status: number | undefined;
  constructor(code: RegistryErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
  }
}

/**
 * The error for a stopped registry call: the signal's reason when it is a RegistryError (the
 * list deadline sets one), else E_REGISTRY_ABORTED (the caller stopped it, e.g. the workload is gone).
 */
export function abortedError(signal: AbortSignal, where: string, what: string): RegistryError {
  const reason: unknown = signal.reason;
  if (reason instanceof RegistryError) return reason;
  return new RegistryError('E_REGISTRY_ABORTED', `asking ${where} for ${what} was stopped by the caller`, {
    cause: reason,
  });
}
