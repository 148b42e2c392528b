// Settings every HTTP channel shares, and the pieces of Notifier they fill in the same way.
import type { FetchLike } from './http.ts';
import type { NoticeEvent } from './types.ts';

export interface ChannelOptions {
  /** Metric label and log name, e.g. 'slack' or 'slack-ops'. */
  channel: string;
  url: string;
  fetch?: FetchLike;
  timeoutMs?: number;
  retries?: number;
  events?: readonly NoticeEvent[];
}

/** Copy the optional per-channel policy fields without writing `undefined` keys. */
export function channelPolicy(opts: Pick<ChannelOptions, 'timeoutMs' | 'retries' | 'events'>): {
  timeoutMs?: number;
  retries?: number;
  events?: readonly NoticeEvent[];
} {
  return {
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    ...(opts.events !== undefined ? { events: opts.events } : {}),
  };
}
