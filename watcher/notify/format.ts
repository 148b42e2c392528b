// Pure message text shared by every channel, so Slack, Teams, Discord and email say the same thing.
import { heldWording } from '../../shared/policy.ts';
import type { NoticeEvent, UpdateNotice, VersionChange } from './types.ts';
// The HTML helpers live in ../html.ts (the approval page uses them too); notifiers import them here.
export { escapeHtml, safeHttpUrl } from '../html.ts';

export interface Field {
  label: string;
  value: string;
}

const EVENT_VERB: Record<NoticeEvent, string> = {
  available: 'Update available',
  updated: 'Updated',
  failed: 'Update failed',
  rolled_back: 'Update rolled back',
  reverted_externally: 'Update reverted by someone else',
};

/** Hex colours per event: blue information, green success, red failure, amber undone. */
export const EVENT_COLOR: Record<NoticeEvent, number> = {
  available: 0x1f6feb,
  updated: 0x1a7f37,
  failed: 0xcf222e,
  rolled_back: 0xbf8700,
  reverted_externally: 0xbf8700,
};

const CHANGE_LABEL: Record<VersionChange, string> = {
  major: 'major',
  minor: 'minor',
  patch: 'patch',
  build: 'build',
  prerelease: 'prerelease',
  revision: 'revision',
  digest: 'digest (same tag, new image)',
};

export function changeLabel(change: VersionChange): string {
  return CHANGE_LABEL[change] ?? change;
}

export function workloadLabel(n: UpdateNotice): string {
  return `${n.workload.kind} ${n.workload.namespace}/${n.workload.name}`;
}

export function versionStep(n: UpdateNotice): string {
  return `${n.currentVersion} → ${n.newVersion}`;
}

/** "Update available: Deployment shop/web (nginx) 1.25.3 → 1.26.0" */
export function noticeTitle(n: UpdateNotice): string {
  return `${EVENT_VERB[n.event]}: ${workloadLabel(n)} (${n.container}) ${versionStep(n)}`;
}

/** A short headline without the versions, for places with tight limits (Slack header: 150 chars). */
export function noticeHeadline(n: UpdateNotice): string {
  return `${EVENT_VERB[n.event]}: ${n.workload.namespace}/${n.workload.name}`;
}

export function noticeFields(n: UpdateNotice): Field[] {
  const fields: Field[] = [
    { label: 'Workload', value: workloadLabel(n) },
    { label: 'Container', value: n.container },
    { label: 'Image', value: n.image },
    { label: 'Version', value: versionStep(n) },
    { label: 'Step', value: changeLabel(n.change) },
  ];
  if (n.detail) fields.push({ label: 'Detail', value: n.detail });
  if (n.held) fields.push({ label: 'Held', value: heldText(n) });
  return fields;
}

/** Release-notes text to show: the AI summary when there is one, else the excerpt. */
export function releaseNotesText(n: UpdateNotice): string | undefined {
  const text = n.releaseNotes?.summary ?? n.releaseNotes?.excerpt;
  const trimmed = text?.trim();
  return trimmed ? trimmed : undefined;
}

/** Why the version waits and until when (the one wording, shared/policy.ts heldWording). */
export function heldText(n: UpdateNotice): string {
  return n.held ? heldWording(n.held) : '';
}

/** One line per notice, used by digests and plain-text bodies. */
export function noticeLine(n: UpdateNotice): string {
  const held = n.held ? ` [${heldText(n)}]` : '';
  return `${EVENT_VERB[n.event]}: ${workloadLabel(n)} ${n.container} ${versionStep(n)} (${changeLabel(n.change)})${held}`;
}

export function digestTitle(batch: readonly UpdateNotice[]): string {
  const counts = new Map<NoticeEvent, number>();
  for (const n of batch) counts.set(n.event, (counts.get(n.event) ?? 0) + 1);
  const parts = [...counts].map(([event, count]) => `${count} ${EVENT_VERB[event].toLowerCase()}`);
  return `image-watcher: ${batch.length} notices (${parts.join(', ')})`;
}

/** The subject of a message: a single notice's title or the digest title. */
export function batchTitle(batch: readonly UpdateNotice[]): string {
  const first = batch[0];
  return batch.length === 1 && first ? noticeTitle(first) : digestTitle(batch);
}

/** Plain text of a whole batch: the body of emails and the fallback text of chat messages. */
export function plainText(batch: readonly UpdateNotice[]): string {
  const first = batch[0];
  if (batch.length === 1 && first) {
    const lines = [noticeTitle(first), '', ...noticeFields(first).map((f) => `${f.label}: ${f.value}`)];
    const notes = releaseNotesText(first);
    if (first.releaseNotes?.url) lines.push(`Release notes: ${first.releaseNotes.url}`);
    if (notes) lines.push('', notes);
    if (first.approvalUrl) lines.push('', `Approve the update: ${first.approvalUrl}`);
    return lines.join('\n');
  }
  const lines = [digestTitle(batch), ''];
  for (const n of batch) {
    lines.push(`- ${noticeLine(n)}`);
    if (n.approvalUrl) lines.push(`  Approve: ${n.approvalUrl}`);
  }
  return lines.join('\n');
}

/** Cut text to at most `max` characters (code points), ending with an ellipsis when cut. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join('') + '…';
}
