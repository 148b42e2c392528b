import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import t, { type Test } from 'tap';
import { createEmailNotifier, emailMessage } from '../../../watcher/notify/email.ts';
import { NotifyDeliveryError } from '../../../watcher/notify/types.ts';
import { availableNotice, manyNotices } from './fixtures.ts';

interface Received {
  from: string;
  to: string[];
  raw: string;
  user: string | undefined;
}

async function startSmtp(
  t: Test,
  opts: { rejectRcpt?: { code: number; message: string }; password?: string } = {},
): Promise<{ port: number; mails: Received[] }> {
  const mails: Received[] = [];
  const server = new SMTPServer({
    // Plain SMTP on loopback: no STARTTLS (its self-signed certificate would be refused).
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: true,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === 'notify' && auth.password === (opts.password ?? 's3cret-pass')) {
        cb(null, { user: auth.username });
      } else {
        cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      }
    },
    onRcptTo(_address, _session, cb) {
      if (opts.rejectRcpt)
        cb(Object.assign(new Error(opts.rejectRcpt.message), { responseCode: opts.rejectRcpt.code }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          user: session.user as string | undefined,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.server.address() as AddressInfo).port, mails };
}

// A minimal MIME reader, enough for what nodemailer writes: folded headers, RFC 2047 words,
// multipart/alternative with quoted-printable or base64 parts.
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([qb])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
      enc.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decodeQp(text.replace(/_/g, ' ')),
    );
}
function decodeQp(text: string): string {
  const bytes = text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/gi, (_m, h: string) => `%${h}`)
    .replace(/%(?![0-9A-F]{2})/gi, '%25');
  return decodeURIComponent(bytes);
}
function parseMessage(raw: string): { headers: Map<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body: raw.slice(split + 4) };
}
function parts(raw: string): Map<string, string> {
  const { headers, body } = parseMessage(raw);
  const boundary = /boundary="?([^";]+)"?/.exec(headers.get('content-type') ?? '')?.[1];
  const out = new Map<string, string>();
  for (const chunk of body.split(`--${boundary}`).slice(1, -1)) {
    const part = parseMessage(chunk.replace(/^\r\n/, ''));
    const type = (part.headers.get('content-type') ?? '').split(';')[0]!;
    const enc = part.headers.get('content-transfer-encoding');
    const text =
      enc === 'base64'
        ? Buffer.from(part.body, 'base64').toString('utf8')
        : enc === 'quoted-printable'
          ? decodeQp(part.body)
          : part.body;
    out.set(type, text.replace(/\r\n/g, '\n').trimEnd());
  }
  return out;
}

t.test('an email arrives over SMTP with subject, text and escaped HTML', async (t) => {
  const smtp = await startSmtp(t);
  const email = createEmailNotifier({
    channel: 'email',
    url: `smtp://notify:s3cret-pass@127.0.0.1:${smtp.port}`,
    from: 'image-watcher <iw@example.com>',
    to: ['ops@example.com', 'dev@example.com'],
    timeoutMs: 5000,
  });
  t.teardown(() => email.close());
  await email.send([availableNotice({ releaseNotes: { summary: 'Fixes <b>bold</b> & more' } })]);

  t.equal(smtp.mails.length, 1);
  const mail = smtp.mails[0]!;
  t.equal(mail.user, 'notify', 'authenticated with the URL credentials');
  t.equal(mail.from, 'iw@example.com');
  t.same(mail.to, ['ops@example.com', 'dev@example.com']);
  const { headers } = parseMessage(mail.raw);
  t.equal(
    decodeWords(headers.get('subject')!),
    'Update available: Deployment shop/web (nginx) 1.25.3 → 1.26.0',
  );
  t.match(headers.get('content-type'), /^multipart\/alternative/);
  const p = parts(mail.raw);
  const text = p.get('text/plain')!;
  t.match(text, /^Update available: Deployment shop\/web \(nginx\) 1\.25\.3 → 1\.26\.0\n/);
  t.match(text, /Step: minor/);
  t.match(text, /Fixes <b>bold<\/b> & more/);
  t.match(
    text,
    /Approve the update: https:\/\/watcher\.example\.com\/approve\/shop\/Deployment\/web\?v=1\.26\.0/,
  );
  const html = p.get('text/html')!;
  t.match(html, /Fixes &lt;b&gt;bold&lt;\/b&gt; &amp; more/, 'release notes are escaped');
  t.notMatch(html, /<b>bold/);
  t.match(
    html,
    /<a href="https:\/\/watcher\.example\.com\/approve\/shop\/Deployment\/web\?v=1\.26\.0&amp;exp=/,
  );
  t.match(html, /<html lang="en">/);
});

t.test('a digest email lists every notice', (t) => {
  const msg = emailMessage(manyNotices(8));
  t.equal(msg.subject, 'image-watcher: 8 notices (8 update available)');
  t.equal(msg.text.split('\n').filter((l) => l.startsWith('- ')).length, 8);
  t.equal((msg.html.match(/<li>/g) ?? []).length, 8);
  t.end();
});

t.test('SMTP refusals are classified for retry and never reveal the password', async (t) => {
  const cases = [
    {
      name: 'a permanent 550 is not retried',
      rejectRcpt: { code: 550, message: 'No such user' },
      retryable: false,
    },
    {
      name: 'a temporary 451 is retried',
      rejectRcpt: { code: 451, message: 'Try again later' },
      retryable: true,
    },
    { name: 'bad credentials are not retried', password: 'other', retryable: false },
  ];
  for (const c of cases) {
    const smtp = await startSmtp(t, c);
    const email = createEmailNotifier({
      channel: 'email',
      url: `smtp://notify:s3cret-pass@127.0.0.1:${smtp.port}`,
      from: 'iw@example.com',
      to: ['ops@example.com'],
      timeoutMs: 5000,
    });
    const err = await email.send([availableNotice()]).catch((e: unknown) => e);
    email.close();
    t.ok(err instanceof NotifyDeliveryError, c.name);
    t.equal((err as NotifyDeliveryError).retryable, c.retryable, c.name);
    t.notMatch((err as Error).message, /s3cret-pass/, `${c.name}: no password in the message`);
    t.equal(smtp.mails.length, 0);
  }
});
