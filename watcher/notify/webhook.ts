// Generic JSON webhook, signed with HMAC-SHA256 so receivers can trust it.
//
// Body (schema version 1):
//   { "version": 1, "event": "<notice event>" | "digest", "notices": UpdateNotice[], "sentAt": "<RFC 3339>" }
// Headers:
//   X-Image-Watcher-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
//   X-Image-Watcher-Timestamp: <unix seconds, same instant as sentAt>
// The timestamp header is informational; `sentAt` is inside the signed body, so a receiver that
// wants replay protection checks `sentAt` after verifySignature().
import { createHmac, timingSafeEqual } from 'node:crypto';
import { channelPolicy, type ChannelOptions } from './channel.ts';
import { postJson } from './http.ts';
import type { NoticeEvent, Notifier, SendOptions, UpdateNotice } from './types.ts';

export const SIGNATURE_HEADER = 'X-Image-Watcher-Signature';
export const TIMESTAMP_HEADER = 'X-Image-Watcher-Timestamp';

export interface WebhookPayload {
  version: 1;
  event: NoticeEvent | 'digest';
  notices: readonly UpdateNotice[];
  sentAt: string;
}

export function webhookPayload(batch: readonly UpdateNotice[], now: Date): WebhookPayload {
  const first = batch[0];
  return {
    version: 1,
    event: batch.length === 1 && first ? first.event : 'digest',
    notices: batch,
    sentAt: now.toISOString(),
  };
}

export function signBody(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/**
 * For receivers: true when `signatureHeader` is the HMAC of exactly these bytes under `secret`.
 * Pass the raw request body, not a re-serialised object. Compared in constant time.
 */
export function verifySignature(
  secret: string,
  rawBody: string | Buffer,
  signatureHeader: string | null | undefined,
): boolean {
  if (!signatureHeader) return false;
  const expected = Buffer.from(signBody(secret, rawBody));
  const given = Buffer.from(signatureHeader.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface WebhookOptions extends ChannelOptions {
  secret: string;
  now?: () => Date;
}

export function createWebhookNotifier(opts: WebhookOptions): Notifier {
  const now = opts.now ?? (() => new Date());
  return {
    channel: opts.channel,
    ...channelPolicy(opts),
    async send(batch: readonly UpdateNotice[], sendOpts?: SendOptions): Promise<void> {
      const at = now();
      const body = JSON.stringify(webhookPayload(batch, at));
      await postJson(opts.url, body, {
        headers: {
          [SIGNATURE_HEADER]: signBody(opts.secret, body),
          [TIMESTAMP_HEADER]: String(Math.floor(at.getTime() / 1000)),
          'user-agent': 'image-watcher',
        },
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
        ...(sendOpts?.signal ? { signal: sendOpts.signal } : {}),
      });
    },
  };
}
