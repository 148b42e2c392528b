// Slack incoming webhook, Block Kit (https://api.slack.com/reference/block-kit/blocks).
import { jsonPostNotifier, type ChannelOptions } from './channel.ts';
import {
  batchTitle,
  changeLabel,
  digestTitle,
  noticeFields,
  noticeHeadline,
  noticeLine,
  releaseNotesText,
  safeHttpUrl,
  truncate,
} from './format.ts';
import type { Notifier, UpdateNotice } from './types.ts';

// Slack's limits: header 150, section text 3000, field 2000, 10 fields, 50 blocks, button label 75.
const HEADER_MAX = 150;
const TEXT_MAX = 3000;
const FIELD_MAX = 2000;
const DIGEST_ITEMS_MAX = 40;

type Block = Record<string, unknown>;
export interface SlackPayload {
  text: string;
  blocks: Block[];
}

/** Slack mrkdwn treats &, < and > as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function link(url: string, label: string): string {
  // `|` and `>` would end the link early; the URL is already normalised by safeHttpUrl.
  return `<${url.replace(/\|/g, '%7C').replace(/>/g, '%3E')}|${escapeMrkdwn(label)}>`;
}

function mrkdwn(text: string, max = TEXT_MAX): Block {
  return { type: 'mrkdwn', text: truncate(text, max) };
}

function button(label: string, url: string, actionId: string, primary: boolean): Block {
  return {
    type: 'button',
    text: { type: 'plain_text', text: label, emoji: false },
    url,
    action_id: actionId,
    ...(primary ? { style: 'primary' } : {}),
  };
}

function singleBlocks(n: UpdateNotice): Block[] {
  const blocks: Block[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(noticeHeadline(n), HEADER_MAX), emoji: false },
    },
    {
      type: 'section',
      fields: noticeFields(n)
        .slice(0, 10)
        .map((f) => mrkdwn(`*${f.label}*\n${escapeMrkdwn(f.value)}`, FIELD_MAX)),
    },
  ];
  const notes = releaseNotesText(n);
  if (notes) blocks.push({ type: 'section', text: mrkdwn(escapeMrkdwn(notes)) });
  const notesUrl = safeHttpUrl(n.releaseNotes?.url);
  blocks.push({
    type: 'context',
    elements: [
      mrkdwn(
        [
          `image-watcher · ${escapeMrkdwn(changeLabel(n.change))} step`,
          notesUrl ? link(notesUrl, 'Release notes') : '',
        ]
          .filter(Boolean)
          .join(' · '),
      ),
    ],
  });
  const approvalUrl = safeHttpUrl(n.approvalUrl);
  const buttons: Block[] = [];
  if (approvalUrl) buttons.push(button('Review and update', approvalUrl, 'approve', true));
  if (notesUrl) buttons.push(button('Release notes', notesUrl, 'release_notes', false));
  if (buttons.length > 0) blocks.push({ type: 'actions', elements: buttons });
  return blocks;
}

function digestBlocks(batch: readonly UpdateNotice[]): Block[] {
  const blocks: Block[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(digestTitle(batch), HEADER_MAX), emoji: false },
    },
  ];
  for (const n of batch.slice(0, DIGEST_ITEMS_MAX)) {
    const approvalUrl = safeHttpUrl(n.approvalUrl);
    const notesUrl = safeHttpUrl(n.releaseNotes?.url);
    const links = [
      approvalUrl ? link(approvalUrl, 'Review and update') : '',
      notesUrl ? link(notesUrl, 'Release notes') : '',
    ]
      .filter(Boolean)
      .join(' · ');
    blocks.push({ type: 'section', text: mrkdwn(escapeMrkdwn(noticeLine(n)) + (links ? `\n${links}` : '')) });
  }
  const rest = batch.length - DIGEST_ITEMS_MAX;
  if (rest > 0) blocks.push({ type: 'context', elements: [mrkdwn(`…and ${rest} more`)] });
  return blocks;
}

/** The webhook body for a batch: one notice gets a full card, more get a digest. */
export function slackPayload(batch: readonly UpdateNotice[]): SlackPayload {
  const first = batch[0];
  return {
    text: truncate(batchTitle(batch), TEXT_MAX),
    blocks: batch.length === 1 && first ? singleBlocks(first) : digestBlocks(batch),
  };
}

export function createSlackNotifier(opts: ChannelOptions): Notifier {
  return jsonPostNotifier(opts, slackPayload);
}
