// POST helper shared by the HTTP channels: one attempt, bounded in time, errors classified for retry.
import { parseRetryAfter } from '../../shared/retry-after.ts';
import { NotifyDeliveryError } from './types.ts';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface PostOptions {
  fetch?: FetchLike;
  headers?: Record<string, string>;
  /** The caller's cancellation (the dispatcher's timeout). */
  signal?: AbortSignal;
  /** A bound of this helper's own, so a hanging server cannot hold the caller forever. */
  timeoutMs?: number;
  now?: () => number;
}

const BODY_SNIPPET = 200;

/** Webhook URLs carry their secret in the path or query: keep only scheme and host. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === '/' && !u.search ? `${u.protocol}//${u.host}/` : `${u.protocol}//${u.host}/…`;
  } catch {
    return '<invalid URL>';
  }
}

/** 408, 429 and 5xx may succeed later; any other 4xx means the request itself is wrong. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export async function postJson(url: string, body: string, opts: PostOptions = {}): Promise<void> {
  const doFetch = opts.fetch ?? fetch;
  const target = redactUrl(url);
  const signals: AbortSignal[] = [];
  if (opts.signal) signals.push(opts.signal);
  if (opts.timeoutMs !== undefined) signals.push(AbortSignal.timeout(opts.timeoutMs));
  const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;

  let res: Response;
  try {
    res = await doFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...opts.headers },
      body,
      redirect: 'error',
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    if (signal?.aborted) {
      throw new NotifyDeliveryError(`POST ${target} timed out or was cancelled`, {
        retryable: true,
        code: 'E_NOTIFY_TIMEOUT',
        cause: err,
      });
    }
    const reason =
      err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : 'error';
    // Some fetch errors quote the URL ("Failed to parse URL from …"): never repeat its secret part.
    throw new NotifyDeliveryError(`POST ${target} failed: ${reason.split(url).join(target)}`, {
      retryable: true,
      cause: err,
    });
  }

  let text = '';
  try {
    text = await res.text();
  } catch {
    // The status is what matters; an unreadable body only loses the error detail.
  }
  if (res.ok) return;
  const snippet = text.trim().slice(0, BODY_SNIPPET);
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), (opts.now ?? Date.now)());
  throw new NotifyDeliveryError(
    `POST ${target} answered HTTP ${res.status}${snippet ? `: ${snippet}` : ''}`,
    {
      retryable: isRetryableStatus(res.status),
      status: res.status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    },
  );
}
