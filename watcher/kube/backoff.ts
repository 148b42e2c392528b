import { backoffDelay } from '../../shared/backoff.ts';

/** Capped exponential backoff for retry loops: 1 s, 2 s, 4 s ... up to the cap, reset on success. */
export interface Backoff {
  /** The delay before the next attempt, in ms; each call doubles the following one. */
  next(): number;
  reset(): void;
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** 0..1: each delay is reduced by up to this fraction, so replicas do not retry in step. */
  jitter?: number;
  random?: () => number;
}

export function exponentialBackoff(opts: BackoffOptions = {}): Backoff {
  const rule = {
    initialMs: opts.initialMs ?? 1000,
    maxMs: opts.maxMs ?? 30_000,
    factor: opts.factor ?? 2,
    jitter: opts.jitter ?? 0,
  };
  const random = opts.random ?? Math.random;
  let attempt = 0;
  return {
    next() {
      attempt += 1;
      return backoffDelay(attempt, rule, random);
    },
    reset() {
      attempt = 0;
    },
  };
}

/**
 * A sleep that ends early (resolving) when the signal aborts, so loops stop promptly. Not
 * unref'd: a pending retry is a reason to keep running; stop() aborts it.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;
