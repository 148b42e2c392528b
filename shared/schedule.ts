// Maintenance windows (`image-watcher/schedule`, `UPDATE_SCHEDULE`): one or more 5-field cron
// expressions whose matching minutes, in an IANA time zone, form the window in which AUTO_UPDATE
// may apply a version. croner does the calendar and the time zones (DST gaps and repeats); cronstrue
// says it in words for people.
import { Cron } from 'croner';
import cronstrue from 'cronstrue';
import { showText } from './show.ts';

/** Parsed `schedule`: the expressions as written (each valid 5-field cron). */
export interface Schedule {
  source: string;
  expressions: string[];
}

/** A window: the schedule in its time zone. */
export interface UpdateWindow {
  schedule: Schedule;
  timezone: string;
}

const MAX_SCHEDULE_LENGTH = 512;
const MAX_EXPRESSIONS = 16;
/** How far ahead a next window is looked for (croner gives up after about 5 years anyway). */
const HORIZON_MS = 366 * 86_400_000;

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** `* 2-4 * * 1-5; 30 22 * * 6`: expressions separated by `;`. */
export function parseSchedule(value: string): Parsed<Schedule> {
  const example = 'e.g. "* 2-4 * * 1-5" (02:00-04:59 Monday to Friday); several separated by ";"';
  if (value.length > MAX_SCHEDULE_LENGTH) {
    return { ok: false, message: `is longer than ${MAX_SCHEDULE_LENGTH} characters` };
  }
  const expressions = value
    .split(';')
    .map((s) => s.trim().replace(/\s+/g, ' '))
    .filter((s) => s !== '');
  if (expressions.length === 0) return { ok: false, message: `has no cron expression (${example})` };
  if (expressions.length > MAX_EXPRESSIONS) {
    return { ok: false, message: `has more than ${MAX_EXPRESSIONS} cron expressions` };
  }
  for (const e of expressions) {
    const reason = cronProblem(e);
    if (reason !== undefined) {
      // The expression and croner's reason may hold control characters: shown escaped and cut.
      return {
        ok: false,
        message: `has an invalid cron expression ${showText(e, 80)}: ${showText(reason, 160, false)} (${example})`,
      };
    }
  }
  return { ok: true, value: { source: value, expressions } };
}

function cronProblem(expression: string): string | undefined {
  if (expression.split(' ').length !== 5)
    return 'exactly 5 fields are required (minute hour day month weekday)';
  try {
    const c = new Cron(expression, { mode: '5-part', timezone: 'UTC' });
    // A valid pattern that never matches ("0 0 30 2 *") would hold updates forever.
    if (c.nextRun(new Date(0)) === null) return 'it never matches';
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, '');
  }
  return undefined;
}

/** An IANA time zone name that this runtime knows (`UTC`, `Europe/Paris`). */
export function parseTimeZone(value: string): Parsed<string> {
  if (value.length > 64 || !/^[A-Za-z0-9_+\-/]+$/.test(value)) {
    return { ok: false, message: 'is not an IANA time zone name (e.g. UTC, Europe/Paris, America/New_York)' };
  }
  try {
    const zone = new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
    return { ok: true, value: zone };
  } catch {
    return { ok: false, message: 'is not an IANA time zone name (e.g. UTC, Europe/Paris, America/New_York)' };
  }
}

export type WindowState = { open: true } | { open: false; nextStart: Date | undefined };

/** Whether `now`'s minute is in the window; when not, the start of the next one. */
export function windowState(w: UpdateWindow, now: Date): WindowState {
  const minute = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  const crons = w.schedule.expressions.map((e) => new Cron(e, { mode: '5-part', timezone: w.timezone }));
  if (crons.some((c) => c.match(minute))) return { open: true };
  let next: Date | undefined;
  for (const c of crons) {
    const n = c.nextRun(now);
    if (n !== null && n.getTime() - now.getTime() <= HORIZON_MS && (!next || n < next)) next = n;
  }
  return { open: false, nextStart: next };
}

/** The window in words: "Every minute, between 02:00 and 04:59, Monday through Friday (Europe/Paris)". */
export function describeWindow(w: UpdateWindow): string {
  const words = w.schedule.expressions.map((e) => {
    try {
      return cronstrue.toString(e, { use24HourTimeFormat: true });
    } catch {
      return e;
    }
  });
  return `${words.join('; or ')} (${w.timezone})`;
}
