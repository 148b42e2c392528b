// Settings every HTTP channel shares, and the pieces of Notifier they fill in the same way.
import { postJson } from './http.ts';
import type { FetchLike } from './http.ts';
import type { NoticeEvent, Notifier, SendOptions, UpdateNotice } from './types.ts';

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

/** A channel that posts one JSON document per batch to its webhook URL (Slack, Teams, Discord). */
export function jsonPostNotifier(
  opts: ChannelOptions,
  payload: (batch: readonly UpdateNotice[]) => unknown,
): Notifier {
  return {
    channel: opts.channel,
    ...channelPolicy(opts),
    async send(batch: readonly UpdateNotice[], sendOpts?: SendOptions): Promise<void> {
      await postJson(opts.url, JSON.stringify(payload(batch)), {
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
        ...(sendOpts?.signal ? { signal: sendOpts.signal } : {}),
      });
    },
  };
}
