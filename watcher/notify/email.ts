// Email over SMTP (nodemailer): subject, plain text and escaped HTML of the same content.
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { channelPolicy } from './channel.ts';
import {
  batchTitle,
  EVENT_COLOR,
  escapeHtml,
  noticeFields,
  noticeLine,
  noticeTitle,
  plainText,
  releaseNotesText,
  safeHttpUrl,
} from './format.ts';
import {
  NotifyDeliveryError,
  type NoticeEvent,
  type Notifier,
  type SendOptions,
  type UpdateNotice,
} from './types.ts';

export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
}

/** The part of a nodemailer transport this channel uses (a real one, or a fake in tests). */
export interface MailTransport {
  sendMail(mail: {
    from: string;
    to: string[];
    subject: string;
    text: string;
    html: string;
  }): Promise<unknown>;
  close(): void;
}

function hex(color: number): string {
  return `#${color.toString(16).padStart(6, '0')}`;
}

function htmlLink(url: string, label: string): string {
  return `<a href="${escapeHtml(url)}">${escapeHtml(label)}</a>`;
}

function singleHtml(n: UpdateNotice): string {
  const rows = noticeFields(n)
    .map(
      (f) =>
        `<tr><th align="left" style="padding:4px 12px 4px 0">${escapeHtml(f.label)}</th><td style="padding:4px 0">${escapeHtml(f.value)}</td></tr>`,
    )
    .join('');
  const notes = releaseNotesText(n);
  const notesUrl = safeHttpUrl(n.releaseNotes?.url);
  const approvalUrl = safeHttpUrl(n.approvalUrl);
  return [
    `<h2 style="color:${hex(EVENT_COLOR[n.event])}">${escapeHtml(noticeTitle(n))}</h2>`,
    `<table>${rows}</table>`,
    notesUrl ? `<p>${htmlLink(notesUrl, 'Release notes')}</p>` : '',
    notes ? `<p style="white-space:pre-wrap">${escapeHtml(notes)}</p>` : '',
    approvalUrl
      ? `<p><a href="${escapeHtml(approvalUrl)}" style="display:inline-block;padding:8px 16px;background:#1a7f37;color:#fff;text-decoration:none;border-radius:6px">Review and update</a></p>`
      : '',
  ].join('\n');
}

function digestHtml(batch: readonly UpdateNotice[]): string {
  const items = batch
    .map((n) => {
      const approvalUrl = safeHttpUrl(n.approvalUrl);
      return `<li>${escapeHtml(noticeLine(n))}${approvalUrl ? ` — ${htmlLink(approvalUrl, 'review and update')}` : ''}</li>`;
    })
    .join('\n');
  return `<h2>${escapeHtml(batchTitle(batch))}</h2>\n<ul>\n${items}\n</ul>`;
}

export function emailMessage(batch: readonly UpdateNotice[]): EmailMessage {
  const first = batch[0];
  const body = batch.length === 1 && first ? singleHtml(first) : digestHtml(batch);
  return {
    // Header injection is impossible through nodemailer, but a newline would still garble the subject.
    subject: batchTitle(batch).replace(/[\r\n]+/g, ' '),
    text: plainText(batch),
    html: `<!doctype html><html lang="en"><body style="font-family:sans-serif;color:#1f2328">${body}</body></html>`,
  };
}

/** nodemailer marks SMTP replies with `responseCode` and socket problems with a `code`. */
export function isRetryableSmtpError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return true;
  const { responseCode, code } = err as { responseCode?: unknown; code?: unknown };
  if (typeof responseCode === 'number') return responseCode >= 400 && responseCode < 500;
  // Authentication, envelope and message errors will fail the same way again.
  return !(code === 'EAUTH' || code === 'EENVELOPE' || code === 'EMESSAGE' || code === 'ENOAUTH');
}

export interface EmailOptions {
  channel: string;
  /** smtp://user:pass@host:port or smtps://… */
  url: string;
  from: string;
  to: readonly string[];
  timeoutMs?: number;
  retries?: number;
  events?: readonly NoticeEvent[];
  transport?: MailTransport;
}

export function createEmailNotifier(opts: EmailOptions): Notifier & { close(): void } {
  const timeout = opts.timeoutMs ?? 10_000;
  const transport: MailTransport =
    opts.transport ??
    lazySmtpTransport({
      url: opts.url,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    });
  const host = safeHost(opts.url);
  return {
    channel: opts.channel,
    ...channelPolicy(opts),
    async send(batch: readonly UpdateNotice[], sendOpts?: SendOptions): Promise<void> {
      if (sendOpts?.signal?.aborted) {
        throw new NotifyDeliveryError(`SMTP ${host}: cancelled`, {
          retryable: true,
          code: 'E_NOTIFY_TIMEOUT',
        });
      }
      const msg = emailMessage(batch);
      try {
        await transport.sendMail({ from: opts.from, to: [...opts.to], ...msg });
      } catch (err) {
        const reason = err instanceof Error ? err.message : 'error';
        throw new NotifyDeliveryError(`SMTP ${host} refused the message: ${reason}`, {
          retryable: isRetryableSmtpError(err),
          cause: err,
        });
      }
    },
    close(): void {
      transport.close();
    },
  };
}

/**
 * nodemailer loaded with the first message (its own chunk of the bundle): a watcher without SMTP,
 * or before its first mail, does not hold it (bench/watcher.ts, no-workload RSS).
 */
function lazySmtpTransport(options: SMTPTransport.Options): MailTransport {
  let transport: Promise<MailTransport> | undefined;
  return {
    sendMail(mail) {
      transport ??= import('nodemailer').then((m) => m.default.createTransport(options));
      return transport.then((t) => t.sendMail(mail));
    },
    close() {
      // Not loaded yet: nothing is open.
      void transport?.then(
        (t) => t.close(),
        () => undefined,
      );
    },
  };
}

/** host:port only: the URL's user info is a password. */
function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '<invalid URL>';
  }
}
