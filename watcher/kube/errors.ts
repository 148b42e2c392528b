import { ImageWatcherError } from '../../shared/errors.ts';

/** The object changed since it was read: a JSON Patch `test` failed (422) or the write conflicted (409). */
export class PatchConflictError extends ImageWatcherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_PATCH_CONFLICT', message, options);
  }
}

/** The object does not exist (any more). */
export class KubeNotFoundError extends ImageWatcherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_KUBE_NOT_FOUND', message, options);
  }
}

/**
 * The API server refused or could not be reached. `status` is the HTTP status (undefined for
 * network errors). Codes: E_KUBE_FORBIDDEN (401/403: check the RBAC role), E_KUBE_UNAVAILABLE
 * (network, 429, 5xx: retried later), E_KUBE_API (anything else).
 */
export class KubeApiError extends ImageWatcherError {
  readonly status: number | undefined;
  constructor(code: string, message: string, status: number | undefined, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

/** No usable kubeconfig: neither KUBECONFIG, ~/.kube/config nor an in-cluster service account. */
export class KubeConfigError extends ImageWatcherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_KUBE_CONFIG', message, options);
  }
}

/** A pull secret exists but its content is not a Docker config. */
export class PullSecretError extends ImageWatcherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_PULL_SECRET', message, options);
  }
}

/** The HTTP status of a client-node error (ApiException.code, or statusCode from Watch). */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** The `message` of a Kubernetes Status body, when the error carries one. */
function statusMessage(err: unknown): string | undefined {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    const message = (parsed as { message?: unknown } | undefined)?.message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return undefined;
  }
}

/** Maps a client-node failure to a typed error whose message says what was attempted. */
export function toKubeError(err: unknown, action: string): ImageWatcherError {
  if (err instanceof ImageWatcherError) return err;
  const status = httpStatusOf(err);
  const detail = statusMessage(err) ?? (err instanceof Error ? err.message : String(err));
  if (status === 409 || status === 422) return new PatchConflictError(`${action}: ${detail}`, { cause: err });
  if (status === 404) return new KubeNotFoundError(`${action}: not found`, { cause: err });
  if (status === 401 || status === 403) {
    return new KubeApiError(
      'E_KUBE_FORBIDDEN',
      `${action}: the API server answered ${status}; check the watcher's service account and RBAC role (${detail})`,
      status,
      { cause: err },
    );
  }
  if (status === undefined || status === 429 || status >= 500) {
    return new KubeApiError(
      'E_KUBE_UNAVAILABLE',
      `${action}: the API server is unavailable (${status ?? 'network error'}: ${detail})`,
      status,
      { cause: err },
    );
  }
  return new KubeApiError('E_KUBE_API', `${action}: the API server answered ${status} (${detail})`, status, {
    cause: err,
  });
}
