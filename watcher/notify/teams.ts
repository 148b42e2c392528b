// Microsoft Teams via a Workflows ("When a Teams webhook request is received") URL: an Adaptive Card 1.4
// wrapped in the message envelope the workflow expects.
import { jsonPostNotifier, type ChannelOptions } from './channel.ts';
import {
  digestTitle,
  noticeFields,
  noticeHeadline,
  noticeLine,
  releaseNotesText,
  safeHttpUrl,
  truncate,
} from './format.ts';
import type { NoticeEvent, Notifier, UpdateNotice } from './types.ts';

const DIGEST_ITEMS_MAX = 50;
const NOTES_MAX = 3000;

type Element = Record<string, unknown>;
export interface AdaptiveCard {
  $schema: string;
  type: 'AdaptiveCard';
  version: '1.4';
  body: Element[];
  actions?: Element[];
  msteams: { width: 'Full' };
}
export interface TeamsPayload {
  type: 'message';
  attachments: {
    contentType: 'application/vnd.microsoft.card.adaptive';
    contentUrl: null;
    content: AdaptiveCard;
  }[];
}

const EVENT_COLOR: Record<NoticeEvent, string> = {
  available: 'Accent',
  updated: 'Good',
  failed: 'Attention',
  rolled_back: 'Warning',
  reverted_externally: 'Warning',
};

// Adaptive Cards render only a small markdown subset (emphasis, lists, links) and document no escape
// syntax, so text is passed as is: a backslash escape would show up literally in Teams.
function openUrl(title: string, url: string): Element {
  return { type: 'Action.OpenUrl', title, url };
}

function singleCard(n: UpdateNotice): AdaptiveCard {
  const body: Element[] = [
    {
      type: 'TextBlock',
      text: noticeHeadline(n),
      size: 'Large',
      weight: 'Bolder',
      color: EVENT_COLOR[n.event],
      wrap: true,
    },
    { type: 'FactSet', facts: noticeFields(n).map((f) => ({ title: f.label, value: f.value })) },
  ];
  const notes = releaseNotesText(n);
  if (notes) body.push({ type: 'TextBlock', text: truncate(notes, NOTES_MAX), wrap: true });
  const actions: Element[] = [];
  const approvalUrl = safeHttpUrl(n.approvalUrl);
  const notesUrl = safeHttpUrl(n.releaseNotes?.url);
  if (approvalUrl) actions.push(openUrl('Review and update', approvalUrl));
  if (notesUrl) actions.push(openUrl('Release notes', notesUrl));
  return card(body, actions);
}

function digestCard(batch: readonly UpdateNotice[]): AdaptiveCard {
  const body: Element[] = [
    { type: 'TextBlock', text: digestTitle(batch), size: 'Large', weight: 'Bolder', wrap: true },
  ];
  for (const n of batch.slice(0, DIGEST_ITEMS_MAX)) {
    const approvalUrl = safeHttpUrl(n.approvalUrl);
    const item: Element = {
      type: 'TextBlock',
      text:
        noticeLine(n) +
        (approvalUrl
          ? ` [Review and update](${approvalUrl.replace(/\(/g, '%28').replace(/\)/g, '%29')})`
          : ''),
      wrap: true,
      color: EVENT_COLOR[n.event],
    };
    body.push(item);
  }
  const rest = batch.length - DIGEST_ITEMS_MAX;
  if (rest > 0) body.push({ type: 'TextBlock', text: `…and ${rest} more`, isSubtle: true, wrap: true });
  return card(body, []);
}

function card(body: Element[], actions: Element[]): AdaptiveCard {
  return {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    body,
    ...(actions.length > 0 ? { actions } : {}),
    msteams: { width: 'Full' },
  };
}

export function teamsPayload(batch: readonly UpdateNotice[]): TeamsPayload {
  const first = batch[0];
  const content = batch.length === 1 && first ? singleCard(first) : digestCard(batch);
  return {
    type: 'message',
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content }],
  };
}

export function createTeamsNotifier(opts: ChannelOptions): Notifier {
  return jsonPostNotifier(opts, teamsPayload);
}
