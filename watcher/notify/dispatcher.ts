// Delivers notices to every channel: in parallel across channels, in order within one, each message
// retried with capped exponential backoff and bounded by a timeout. One channel failing never blocks
// or fails another, and dispatch() itself never throws.
import { backoffDelay as sharedBackoff } from '../../shared/backoff.ts';
import type { Logger } from 'pino';
import { decodeVersions, versionOf, type ManagedState } from '../../shared/annotations.ts';
import { NotifyDeliveryError, type NotificationObserver, type Notifier, type UpdateNotice } from './types.ts';

export interface DispatcherOptions {
  notifiers: readonly Notifier[];
  observer?: NotificationObserver;
  logger?: Pick<Logger, 'warn' | 'error' | 'debug'>;
  /** Waits between attempts; injected so tests run instantly. */
  sleep?: (ms: number) => Promise<void>;
  /** 0 ≤ x < 1, for jitter. */
  random?: () => number;
  /** Per attempt, unless the channel sets its own. Default 10 s. */
  timeoutMs?: number;
  /** The attempt timeout's timer; injected so tests decide when it fires. */
  timers?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(handle: unknown): void };
  /** Extra attempts after the first, unless the channel sets its own. Default 3. */
  retries?: number;
  /** More notices than this in one dispatch become one digest message per channel. Default 5. */
  digestThreshold?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the message fails instead. Default 5 min. */
  maxRetryAfterMs?: number;
}

export interface ChannelReport {
  channel: string;
  delivered: number;
  failed: number;
  attempts: number;
  errors: string[];
}

const DEFAULTS = {
  timeoutMs: 10_000,
  retries: 3,
  digestThreshold: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 300_000,
};

const systemTimers = {
  setTimeout: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as NodeJS.Timeout),
};

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The shared backoff with "equal jitter": half fixed, half random, so retries spread out. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  return sharedBackoff(attempt, { initialMs: baseMs, maxMs, jitter: 0.5 }, () => 1 - random());
}

function noticeKey(n: UpdateNotice): string {
  const w = n.workload;
  return [n.event, w.kind, w.namespace, w.name, n.container, n.newVersion].join('\u0000');
}

/** Drop repeated notices within one dispatch (same event, workload, container and version). */
export function dedupeNotices(notices: readonly UpdateNotice[]): UpdateNotice[] {
  const seen = new Set<string>();
  return notices.filter((n) => {
    const key = noticeKey(n);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Dedup across restarts: the watcher stamps `image-watcher/last-notified-version` on the workload
 * before dispatching an 'available' notice, and asks this first. The value is either one tag (one
 * watched container) or `name=tag,name2=tag2`.
 */
export function shouldAnnounce(
  state: Pick<ManagedState, 'lastNotifiedVersion'>,
  container: string,
  version: string,
): boolean {
  return versionOf(decodeVersions(state.lastNotifiedVersion), container) !== version;
}

export class NotificationDispatcher {
  readonly #notifiers: readonly Notifier[];
  readonly #opts: DispatcherOptions;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(opts: DispatcherOptions) {
    this.#notifiers = opts.notifiers;
    this.#opts = opts;
    this.#sleep = opts.sleep ?? defaultSleep;
    this.#random = opts.random ?? Math.random;
  }

  get channels(): string[] {
    return this.#notifiers.map((n) => n.channel);
  }

  async dispatch(notices: readonly UpdateNotice[]): Promise<ChannelReport[]> {
    const unique = dedupeNotices(notices);
    if (unique.length === 0 || this.#notifiers.length === 0) return [];
    const settled = await Promise.allSettled(this.#notifiers.map((n) => this.#deliver(n, unique)));
    return settled.map((s, i) =>
      s.status === 'fulfilled'
        ? s.value
        : // #deliver catches everything; this only guards against a bug there.
          {
            channel: this.#notifiers[i]?.channel ?? '?',
            delivered: 0,
            failed: 1,
            attempts: 0,
            errors: [String(s.reason)],
          },
    );
  }

  /** Close channels that hold connections (SMTP). */
  close(): void {
    for (const n of this.#notifiers) {
      const closable = n as Partial<{ close(): void }>;
      if (typeof closable.close === 'function') closable.close();
    }
  }

  async #deliver(notifier: Notifier, notices: readonly UpdateNotice[]): Promise<ChannelReport> {
    const report: ChannelReport = {
      channel: notifier.channel,
      delivered: 0,
      failed: 0,
      attempts: 0,
      errors: [],
    };
    const wanted = notifier.events ? notices.filter((n) => notifier.events?.includes(n.event)) : notices;
    if (wanted.length === 0) return report;
    const threshold = this.#opts.digestThreshold ?? DEFAULTS.digestThreshold;
    const batches = wanted.length > threshold ? [wanted] : wanted.map((n) => [n]);
    for (const batch of batches) {
      const ok = await this.#sendWithRetries(notifier, batch, report);
      if (ok) report.delivered++;
      else report.failed++;
      this.#opts.observer?.observeNotification({
        channel: notifier.channel,
        result: ok ? 'success' : 'failed',
      });
    }
    return report;
  }

  async #sendWithRetries(
    notifier: Notifier,
    batch: readonly UpdateNotice[],
    report: ChannelReport,
  ): Promise<boolean> {
    const retries = notifier.retries ?? this.#opts.retries ?? DEFAULTS.retries;
    const log = this.#opts.logger;
    for (let attempt = 1; ; attempt++) {
      report.attempts++;
      try {
        await this.#attempt(notifier, batch);
        return true;
      } catch (err) {
        const e =
          err instanceof NotifyDeliveryError
            ? err
            : new NotifyDeliveryError(
                `channel ${notifier.channel} failed: ${err instanceof Error ? err.message : String(err)}`,
                {
                  retryable: true,
                  cause: err,
                },
              );
        const wait = this.#retryDelay(e, attempt);
        const willRetry = e.retryable && attempt <= retries && wait !== undefined;
        log?.warn(
          { channel: notifier.channel, attempt, code: e.code, status: e.status, willRetry, err: e.message },
          'notification attempt failed',
        );
        if (!willRetry) {
          report.errors.push(e.message);
          log?.error(
            { channel: notifier.channel, attempts: attempt, notices: batch.length, err: e.message },
            'notification not delivered',
          );
          return false;
        }
        await this.#sleep(wait);
      }
    }
  }

  /** The wait before the next attempt, or undefined when the server asks for longer than we accept. */
  #retryDelay(e: NotifyDeliveryError, attempt: number): number | undefined {
    if (e.retryAfterMs !== undefined) {
      return e.retryAfterMs <= (this.#opts.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs)
        ? e.retryAfterMs
        : undefined;
    }
    return backoffDelay(
      attempt,
      this.#opts.baseDelayMs ?? DEFAULTS.baseDelayMs,
      this.#opts.maxDelayMs ?? DEFAULTS.maxDelayMs,
      this.#random,
    );
  }

  /** One attempt, abandoned after the timeout even if the channel ignores the abort signal. */
  async #attempt(notifier: Notifier, batch: readonly UpdateNotice[]): Promise<void> {
    const timeoutMs = notifier.timeoutMs ?? this.#opts.timeoutMs ?? DEFAULTS.timeoutMs;
    const controller = new AbortController();
    const timers = this.#opts.timers ?? systemTimers;
    let timer: unknown;
    const timedOut = new Promise<never>((_, reject) => {
      timer = timers.setTimeout(() => {
        controller.abort();
        reject(
          new NotifyDeliveryError(`channel ${notifier.channel} did not answer within ${timeoutMs} ms`, {
            retryable: true,
            code: 'E_NOTIFY_TIMEOUT',
          }),
        );
      }, timeoutMs);
    });
    try {
      await Promise.race([notifier.send(batch, { signal: controller.signal }), timedOut]);
    } finally {
      timers.clearTimeout(timer);
    }
  }
}
