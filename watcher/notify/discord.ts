// Discord webhook with one embed (https://discord.com/developers/docs/resources/message#embed-object).
import { jsonPostNotifier, type ChannelOptions } from './channel.ts';
import {
  EVENT_COLOR,
  digestTitle,
  noticeFields,
  noticeHeadline,
  noticeLine,
  releaseNotesText,
  safeHttpUrl,
  truncate,
} from './format.ts';
import type { Notifier, UpdateNotice } from './types.ts';

/** Discord's documented embed limits. */
export const DISCORD_LIMITS = {
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  total: 6000,
} as const;

export interface DiscordEmbed {
  title: string;
  description?: string;
  url?: string;
  color: number;
  fields: { name: string; value: string; inline: boolean }[];
  footer: { text: string };
}
export interface DiscordPayload {
  username: string;
  allowed_mentions: { parse: never[] };
  embeds: DiscordEmbed[];
}

/** Backslash-escape Discord markdown so image names like `my_app` are not italicised. */
export function escapeDiscord(text: string): string {
  return text.replace(/([\\*_~`|>[\]])/g, '\\$1');
}

function maskedLink(label: string, url: string): string {
  return `[${label}](${url.replace(/\(/g, '%28').replace(/\)/g, '%29')})`;
}

/** Characters Discord counts toward the 6000 total. */
export function embedSize(e: DiscordEmbed): number {
  const len = (s: string | undefined): number => (s ? [...s].length : 0);
  return (
    len(e.title) +
    len(e.description) +
    len(e.footer.text) +
    e.fields.reduce((sum, f) => sum + len(f.name) + len(f.value), 0)
  );
}

/** Shorten the description (the only unbounded part) until the embed fits the total limit. */
function fitTotal(e: DiscordEmbed): DiscordEmbed {
  const over = embedSize(e) - DISCORD_LIMITS.total;
  if (over <= 0 || !e.description) return e;
  const keep = Math.max(0, [...e.description].length - over);
  return { ...e, description: truncate(e.description, keep) };
}

function singleEmbed(n: UpdateNotice): DiscordEmbed {
  const approvalUrl = safeHttpUrl(n.approvalUrl);
  const notesUrl = safeHttpUrl(n.releaseNotes?.url);
  const fields = noticeFields(n).map((f) => ({
    name: truncate(f.label, DISCORD_LIMITS.fieldName),
    value: truncate(escapeDiscord(f.value), DISCORD_LIMITS.fieldValue),
    inline: f.label !== 'Detail' && f.label !== 'Image',
  }));
  if (notesUrl) fields.push({ name: 'Release notes', value: maskedLink('Open', notesUrl), inline: false });
  if (approvalUrl)
    fields.push({ name: 'Approve', value: maskedLink('Review and update', approvalUrl), inline: false });
  const notes = releaseNotesText(n);
  return fitTotal({
    title: truncate(noticeHeadline(n), DISCORD_LIMITS.title),
    ...(notes ? { description: truncate(escapeDiscord(notes), DISCORD_LIMITS.description) } : {}),
    ...(approvalUrl || notesUrl ? { url: approvalUrl ?? notesUrl } : {}),
    color: EVENT_COLOR[n.event],
    fields: fields.slice(0, DISCORD_LIMITS.fields),
    footer: { text: 'image-watcher' },
  });
}

function digestEmbed(batch: readonly UpdateNotice[]): DiscordEmbed {
  const lines: string[] = [];
  let used = 0;
  let shown = 0;
  for (const n of batch) {
    const approvalUrl = safeHttpUrl(n.approvalUrl);
    const line = `• ${escapeDiscord(noticeLine(n))}${approvalUrl ? ` ${maskedLink('review', approvalUrl)}` : ''}`;
    // Keep room for the "…and N more" line.
    if (used + line.length + 1 > DISCORD_LIMITS.description - 40) break;
    lines.push(line);
    used += line.length + 1;
    shown++;
  }
  if (shown < batch.length) lines.push(`…and ${batch.length - shown} more`);
  const first = batch[0];
  const allSame = first !== undefined && batch.every((n) => n.event === first.event);
  return fitTotal({
    title: truncate(digestTitle(batch), DISCORD_LIMITS.title),
    description: lines.join('\n'),
    color: allSame ? EVENT_COLOR[first.event] : EVENT_COLOR.available,
    fields: [],
    footer: { text: 'image-watcher' },
  });
}

export function discordPayload(batch: readonly UpdateNotice[]): DiscordPayload {
  const first = batch[0];
  return {
    username: 'image-watcher',
    // Release notes are third-party text: never let them ping @everyone or roles.
    allowed_mentions: { parse: [] },
    embeds: [batch.length === 1 && first ? singleEmbed(first) : digestEmbed(batch)],
  };
}

export function createDiscordNotifier(opts: ChannelOptions): Notifier {
  return jsonPostNotifier(opts, discordPayload);
}
