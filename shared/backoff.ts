// The one backoff rule of the watcher (work queue, informers, notifiers): capped exponential, with
// optional jitter so replicas do not retry in step.

export interface BackoffRule {
  initialMs: number;
  maxMs: number;
  /** Default 2. */
  factor?: number;
  /** 0..1: each delay is reduced by up to this fraction of itself (times `random()`). Default 0. */
  jitter?: number;
}

/** The delay before retry number `attempt` (from 1): initial * factor^(attempt-1), at most max. */
export function backoffDelay(attempt: number, rule: BackoffRule, random: () => number = Math.random): number {
  const factor = rule.factor ?? 2;
  const exp = Math.min(rule.maxMs, rule.initialMs * factor ** Math.min(Math.max(0, attempt - 1), 60));
  const jitter = Math.min(Math.max(rule.jitter ?? 0, 0), 1);
  return Math.round(exp * (1 - jitter * random()));
}
