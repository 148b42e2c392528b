import t from 'tap';
import {
  batchTitle,
  changeLabel,
  noticeFields,
  noticeLine,
  escapeHtml,
  noticeTitle,
  plainText,
  safeHttpUrl,
  truncate,
} from '../../../watcher/notify/format.ts';
import { parseRetryAfter } from '../../../shared/retry-after.ts';
import { redactUrl } from '../../../watcher/notify/http.ts';
import { availableNotice, failedNotice, manyNotices } from './fixtures.ts';

t.test('titles say what happened, where, and the version step', (t) => {
  const table = [
    {
      name: 'an available update',
      input: availableNotice(),
      want: 'Update available: Deployment shop/web (nginx) 1.25.3 → 1.26.0',
    },
    {
      name: 'a failed update',
      input: failedNotice(),
      want: 'Update failed: StatefulSet data/redis (redis) 7.2.4 → 7.2.5',
    },
    {
      name: 'a rollback',
      input: failedNotice({ event: 'rolled_back' }),
      want: 'Update rolled back: StatefulSet data/redis (redis) 7.2.4 → 7.2.5',
    },
    {
      name: 'an external revert',
      input: failedNotice({ event: 'reverted_externally' }),
      want: 'Update reverted by someone else: StatefulSet data/redis (redis) 7.2.4 → 7.2.5',
    },
    {
      name: 'a success',
      input: failedNotice({ event: 'updated' }),
      want: 'Updated: StatefulSet data/redis (redis) 7.2.4 → 7.2.5',
    },
  ];
  for (const c of table) t.equal(noticeTitle(c.input), c.want, c.name);
  t.equal(changeLabel('digest'), 'digest (same tag, new image)');
  t.equal(
    batchTitle([availableNotice(), failedNotice(), availableNotice()]),
    'image-watcher: 3 notices (2 update available, 1 update failed)',
  );
  t.end();
});

t.test('plain text carries fields, notes and the approval link', (t) => {
  const text = plainText([failedNotice()]);
  t.match(text, /Detail: rollout did not finish/);
  t.notMatch(text, /Approve/);
  const digest = plainText(manyNotices(2));
  t.match(digest, /^image-watcher: 2 notices/);
  t.match(
    digest,
    /- Update available: Deployment shop\/svc-1 nginx 1\.25\.3 → 1\.26\.0 \(minor\)\n {2}Approve: https/,
  );
  t.end();
});

t.test('helpers', (t) => {
  t.equal(truncate('abcdef', 4), 'abc…');
  t.equal(truncate('abc', 3), 'abc');
  t.equal(truncate('😀😀😀', 2), '😀…', 'counts code points, never splits one');
  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  t.equal(safeHttpUrl('javascript:alert(1)'), undefined);
  t.equal(safeHttpUrl('not a url'), undefined);
  t.equal(safeHttpUrl('https://example.com/a b'), 'https://example.com/a%20b');
  t.equal(redactUrl('https://hooks.slack.com/services/T/B/SECRET?x=1'), 'https://hooks.slack.com/…');
  t.equal(redactUrl('https://hooks.example.com'), 'https://hooks.example.com/');
  t.equal(redactUrl('::'), '<invalid URL>');
  const now = Date.parse('2026-11-23T12:00:00Z');
  t.equal(parseRetryAfter('5', now), 5000);
  t.equal(parseRetryAfter('Mon, 23 Nov 2026 12:00:30 GMT', now), 30_000);
  t.equal(parseRetryAfter('soon', now), undefined);
  t.equal(parseRetryAfter(null, now), undefined);
  t.end();
});

t.test('a held notice says why and until when, in fields and in digest lines', (t) => {
  const n = availableNotice({
    held: {
      reason: 'schedule',
      version: '1.26.0',
      until: '2026-06-01T00:00:00.000Z',
      message: 'outside the maintenance window; will be applied at the window start 2026-06-01T00:00:00.000Z',
    },
  });
  t.same(noticeFields(n).at(-1), {
    label: 'Held',
    value:
      '1.26.0 is held (schedule) until 2026-06-01T00:00:00.000Z: outside the maintenance window; will be applied at the window start 2026-06-01T00:00:00.000Z',
  });
  t.match(
    noticeLine(n),
    / \[1\.26\.0 is held \(schedule\) until 2026-06-01T00:00:00\.000Z: outside the maintenance window/,
  );
  t.match(plainText([n]), /\nHeld: 1\.26\.0 is held \(schedule\) until 2026-06-01T00:00:00\.000Z/);
  t.notOk(
    noticeFields(availableNotice()).some((f) => f.label === 'Held'),
    'no hold, no field',
  );
  t.end();
});
