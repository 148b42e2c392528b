import { KubeApiError } from './errors.ts';

/**
 * Fails a call that gets no answer in time (client-node sets no request timeout), so loops and
 * callers move on; `action` says what was attempted.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, action: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new KubeApiError(
            'E_KUBE_UNAVAILABLE',
            `${action}: no answer from the API server within ${ms} ms`,
            undefined,
          ),
        ),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
