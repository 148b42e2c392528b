// Maintenance windows with an injected clock: crossing midnight, DST in Europe/Paris, words.
import t from 'tap';
import { describeWindow, parseSchedule, parseTimeZone, windowState } from '../../shared/schedule.ts';
import type { UpdateWindow } from '../../shared/schedule.ts';

function win(schedule: string, timezone = 'UTC'): UpdateWindow {
  const s = parseSchedule(schedule);
  if (!s.ok) throw new Error(s.message);
  return { schedule: s.value, timezone };
}

const cases: {
  name: string;
  schedule: string;
  timezone?: string;
  now: string;
  open: boolean;
  next?: string;
}[] = [
  // 22:00-01:59 every night: two expressions, one window across midnight.
  {
    name: 'before a midnight-crossing window',
    schedule: '* 22-23 * * *; * 0-1 * * *',
    now: '2026-05-04T21:59:30Z',
    open: false,
    next: '2026-05-04T22:00:00.000Z',
  },
  {
    name: 'in it before midnight',
    schedule: '* 22-23 * * *; * 0-1 * * *',
    now: '2026-05-04T23:59:59Z',
    open: true,
  },
  {
    name: 'in it after midnight',
    schedule: '* 22-23 * * *; * 0-1 * * *',
    now: '2026-05-05T00:00:00Z',
    open: true,
  },
  {
    name: 'its last minute',
    schedule: '* 22-23 * * *; * 0-1 * * *',
    now: '2026-05-05T01:59:59Z',
    open: true,
  },
  {
    name: 'just after it',
    schedule: '* 22-23 * * *; * 0-1 * * *',
    now: '2026-05-05T02:00:00Z',
    open: false,
    next: '2026-05-05T22:00:00.000Z',
  },
  // One expression across midnight too: hours 22-23,0-1 on weekdays.
  {
    name: 'weekday nights: Friday 23:30',
    schedule: '* 22-23,0-1 * * 1-5',
    now: '2026-05-08T23:30:00Z',
    open: true,
  },
  {
    name: 'weekday nights: Saturday 00:30',
    schedule: '* 22-23,0-1 * * 1-5',
    now: '2026-05-09T00:30:00Z',
    open: false,
    next: '2026-05-11T00:00:00.000Z',
  },
  // Europe/Paris spring-forward (29 March 2026, 02:00 CET -> 03:00 CEST): 02:xx does not exist.
  {
    name: 'Paris spring-forward: the 02:00 window is skipped that night',
    schedule: '* 2 * * *',
    timezone: 'Europe/Paris',
    now: '2026-03-29T00:30:00Z',
    open: false,
    next: '2026-03-30T00:00:00.000Z',
  },
  {
    name: 'Paris spring-forward: 03:00 CEST is 01:00Z',
    schedule: '* 3 * * *',
    timezone: 'Europe/Paris',
    now: '2026-03-29T00:59:00Z',
    open: false,
    next: '2026-03-29T01:00:00.000Z',
  },
  {
    name: 'Paris spring-forward: 03:30 CEST is in a 03:00 window',
    schedule: '* 3 * * *',
    timezone: 'Europe/Paris',
    now: '2026-03-29T01:30:00Z',
    open: true,
  },
  {
    name: 'Paris spring-forward: 01:30 CET (00:30Z) in a 1-3 window',
    schedule: '* 1-3 * * *',
    timezone: 'Europe/Paris',
    now: '2026-03-29T00:30:00Z',
    open: true,
  },
  // Europe/Paris fall-back (25 October 2026, 03:00 CEST -> 02:00 CET): 02:xx happens twice.
  {
    name: 'Paris fall-back: the first 02:30 (CEST)',
    schedule: '* 2 * * *',
    timezone: 'Europe/Paris',
    now: '2026-10-25T00:30:00Z',
    open: true,
  },
  {
    name: 'Paris fall-back: the second 02:30 (CET)',
    schedule: '* 2 * * *',
    timezone: 'Europe/Paris',
    now: '2026-10-25T01:30:00Z',
    open: true,
  },
  {
    name: 'Paris fall-back: 03:00 CET is after both',
    schedule: '* 2 * * *',
    timezone: 'Europe/Paris',
    now: '2026-10-25T02:00:00Z',
    open: false,
    next: '2026-10-26T01:00:00.000Z',
  },
  {
    name: 'Paris fall-back: 01:59 CEST, next is 02:00 CEST',
    schedule: '* 2 * * *',
    timezone: 'Europe/Paris',
    now: '2026-10-24T23:59:00Z',
    open: false,
    next: '2026-10-25T00:00:00.000Z',
  },
  // The example: 02:00-04:59 Monday to Friday.
  {
    name: 'Monday 03:00 in Paris',
    schedule: '* 2-4 * * 1-5',
    timezone: 'Europe/Paris',
    now: '2026-06-01T01:00:00Z',
    open: true,
  },
  {
    name: 'Sunday noon in Paris',
    schedule: '* 2-4 * * 1-5',
    timezone: 'Europe/Paris',
    now: '2026-05-31T10:00:00Z',
    open: false,
    next: '2026-06-01T00:00:00.000Z',
  },
];

for (const c of cases) {
  t.test(c.name, (t) => {
    const state = windowState(win(c.schedule, c.timezone), new Date(c.now));
    t.equal(state.open, c.open, 'open');
    if (!state.open) t.equal(state.nextStart?.toISOString(), c.next, 'next window start');
    t.end();
  });
}

t.test('schedules are validated', (t) => {
  t.ok(parseSchedule('* 2-4 * * 1-5').ok);
  t.ok(parseSchedule(' * 2-4 * * 1-5 ;  30 22 * * 6 ').ok, 'spaces around are fine');
  for (const [value, why] of [
    ['* 2-4 * *', /exactly 5 fields/],
    ['0 * * * * *', /exactly 5 fields/],
    ['* 25 * * *', /hour/],
    ['0 0 30 2 *', /never matches/],
    [';', /no cron expression/],
    ['x'.repeat(600), /longer than 512/],
  ] as const) {
    const r = parseSchedule(value);
    t.notOk(r.ok, value.slice(0, 20));
    if (!r.ok) t.match(r.message, why);
  }
  t.end();
});

t.test('time zones are IANA names', (t) => {
  t.same(parseTimeZone('Europe/Paris'), { ok: true, value: 'Europe/Paris' });
  t.same(parseTimeZone('UTC'), { ok: true, value: 'UTC' });
  t.notOk(parseTimeZone('Mars/Olympus').ok);
  t.notOk(parseTimeZone('../etc/passwd').ok);
  t.end();
});

t.test('windows in words', (t) => {
  t.equal(
    describeWindow(win('* 2-4 * * 1-5', 'Europe/Paris')),
    'Every minute, between 02:00 and 04:59, Monday through Friday (Europe/Paris)',
  );
  t.match(describeWindow(win('* 22-23 * * *; * 0-1 * * *')), /; or .*\(UTC\)$/);
  t.end();
});
