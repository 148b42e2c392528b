// Server-rendered HTML of the approval pages: pure functions of their input, every value escaped,
// one inline stylesheet allowed by its hash, no scripts and no external assets.
import { createHash } from 'node:crypto';
import { heldWording, overriddenByApproval } from '../../shared/policy.ts';
import { escapeHtml, safeHttpUrl } from '../html.ts';

export interface WorkloadRef {
  kind: string;
  namespace: string;
  name: string;
}

const STYLE = `
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:#f6f8fa;color:#1f2328;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:42rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}
h1{font-size:1.5rem;margin:0 0 1rem}
h2{font-size:1.125rem;margin:1.5rem 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
code{font:0.95em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eff2f5;padding:0 .25em;border-radius:4px}
.notes{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.75rem;max-height:24rem;overflow:auto}
.note{color:#59636e}
a{color:#0550ae}
button{font:inherit;font-weight:600;color:#fff;background:#1a7f37;border:1px solid #116329;border-radius:6px;padding:.6rem 1.25rem;cursor:pointer;margin-top:1.5rem}
button:hover{background:#116329}
a:focus-visible,button:focus-visible{outline:3px solid #0969da;outline-offset:2px}
.ok{border-left:6px solid #1a7f37;padding-left:1rem}
.bad{border-left:6px solid #cf222e;padding-left:1rem}
.info{border-left:6px solid #0969da;padding-left:1rem}
`;

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** No scripts at all; only this page's own stylesheet; forms post back to this origin only. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${STYLE_HASH}'`,
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)} · image-watcher</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function workloadList(w: WorkloadRef, rows: [string, string][]): string {
  const all: [string, string][] = [['Workload', `${w.kind} ${w.name}`], ['Namespace', w.namespace], ...rows];
  return `<dl>\n${all.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('\n')}\n</dl>`;
}

function formatTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/:\d\d\.\d+Z$/, ' UTC');
}

/** A policy hold as the page shows it. */
export interface HeldView {
  reason: string;
  version?: string;
  until?: string;
  message: string;
}

/** Why a version waits, and whether approving overrides it (a window or the age) or not. */
function heldNote(h: HeldView | undefined): string {
  if (!h) return '';
  const override = overriddenByApproval(h.reason)
    ? 'Approving applies it now anyway.'
    : 'An approval cannot override this rule.';
  return `<p class="note">${escapeHtml(heldWording(h))}. ${override}</p>`;
}

export interface ApprovalView {
  workload: WorkloadRef;
  containers: string[];
  images: string[];
  currentVersion: string;
  proposedVersion: string;
  /** Newest allowed version now, when newer than the link's: the link still updates to its own. */
  newestVersion?: string;
  releaseNotes?: { url?: string; summary?: string; excerpt?: string };
  held?: HeldView;
  /** Who signed the proposed version (signature verification). */
  signedBy?: string;
  expiresAt: number;
  form: { action: string; fields: Record<string, string> };
}

export function renderApprovalPage(view: ApprovalView): string {
  const rows: [string, string][] = [];
  if (view.containers.length > 0)
    rows.push([view.containers.length > 1 ? 'Containers' : 'Container', view.containers.join(', ')]);
  if (view.images.length > 0)
    rows.push([view.images.length > 1 ? 'Images' : 'Image', view.images.join(', ')]);
  rows.push(['Current version', view.currentVersion], ['Proposed version', view.proposedVersion]);
  if (view.signedBy) rows.push(['Signed by', view.signedBy]);
  const notesText = (view.releaseNotes?.summary ?? view.releaseNotes?.excerpt)?.trim();
  const notesUrl = safeHttpUrl(view.releaseNotes?.url);
  const notes =
    notesText || notesUrl
      ? `<section aria-labelledby="notes-h">
<h2 id="notes-h">Release notes</h2>
${notesText ? `<div class="notes">${escapeHtml(notesText)}</div>` : ''}
${notesUrl ? `<p><a href="${escapeHtml(notesUrl)}" rel="noopener noreferrer">Full release notes for ${escapeHtml(view.proposedVersion)}</a></p>` : ''}
</section>`
      : '';
  const newer =
    view.newestVersion && view.newestVersion !== view.proposedVersion
      ? `<p class="note">A newer version, <code>${escapeHtml(view.newestVersion)}</code>, is also available; this link updates to <code>${escapeHtml(view.proposedVersion)}</code> only.</p>`
      : '';
  const hidden = Object.entries(view.form.fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('\n');
  return layout(
    `Update ${view.workload.name} to ${view.proposedVersion}`,
    `<h1>Update ${escapeHtml(view.workload.name)} to ${escapeHtml(view.proposedVersion)}?</h1>
${workloadList(view.workload, rows)}
${newer}
${heldNote(view.held)}
${notes}
<form method="post" action="${escapeHtml(view.form.action)}">
${hidden}
<button type="submit">Update now</button>
</form>
<p class="note">This link expires ${escapeHtml(formatTime(view.expiresAt))}. Updating changes the image of the running workload; Kubernetes rolls it out as usual.</p>`,
  );
}

export type Tone = 'ok' | 'bad' | 'info';

export interface MessageView {
  title: string;
  message: string;
  tone: Tone;
  workload?: WorkloadRef;
  rows?: [string, string][];
}

/** Outcome and refusal pages: a heading, one message, optionally the workload. */
export function renderMessagePage(view: MessageView): string {
  // role=alert announces failures to screen readers at once; successes are a polite status.
  const role = view.tone === 'bad' ? 'alert' : 'status';
  return layout(
    view.title,
    `<div class="${view.tone}" role="${role}">
<h1>${escapeHtml(view.title)}</h1>
<p>${escapeHtml(view.message)}</p>
</div>
${view.workload ? workloadList(view.workload, view.rows ?? []) : ''}`,
  );
}

export function renderRefusedPage(reason: 'expired' | 'invalid'): string {
  return reason === 'expired'
    ? renderMessagePage({
        title: 'This approval link has expired',
        message:
          'Approval links are valid for a limited time. Use the link in a newer notification, or update the workload another way.',
        tone: 'bad',
      })
    : renderMessagePage({
        title: 'This link is not valid',
        message:
          'The approval link is incomplete or has been changed. Open the link exactly as it was sent to you.',
        tone: 'bad',
      });
}
