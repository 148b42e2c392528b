import t from 'tap';
import {
  ConfigError,
  envOptional,
  envOr,
  envValue,
  formatDuration,
  parseBool,
  parseDuration,
  parseEnum,
  parseInteger,
  parseList,
  parsePort,
  parseUrl,
  ProblemCollector,
} from '../../shared/env.ts';

const durations: { name: string; input: string; want: number }[] = [
  { name: 'seconds are read', input: '45s', want: 45_000 },
  { name: 'minutes are read', input: '30m', want: 1_800_000 },
  { name: 'hours are read', input: '6h', want: 21_600_000 },
  { name: 'hours and minutes combine', input: '1h30m', want: 5_400_000 },
  { name: 'milliseconds are read', input: '500ms', want: 500 },
  { name: 'days are read', input: '1d', want: 86_400_000 },
  { name: 'a decimal amount is read', input: '1.5h', want: 5_400_000 },
  { name: 'upper-case units are accepted', input: '2H', want: 7_200_000 },
  { name: 'surrounding spaces are ignored', input: ' 10s ', want: 10_000 },
  { name: 'every unit can combine', input: '1d2h3m4s5ms', want: 93_784_005 },
  { name: 'zero is a duration', input: '0s', want: 0 },
];

t.test('durations', (t) => {
  for (const c of durations) t.equal(parseDuration(c.input, 'CHECK_INTERVAL'), c.want, c.name);
  t.end();
});

const badDurations: { name: string; input: string }[] = [
  { name: 'words are refused', input: '5 minutes' },
  { name: 'a bare number is refused because its unit is ambiguous', input: '3600' },
  { name: 'an unknown unit is refused', input: '5y' },
  { name: 'a negative duration is refused', input: '-5m' },
  { name: 'an empty value is refused', input: '' },
  { name: 'a unit without an amount is refused', input: 'm' },
];

t.test('bad durations name the variable and give examples', (t) => {
  for (const c of badDurations) {
    const err = t.throws(() => parseDuration(c.input, 'CHECK_INTERVAL'), c.name) as ConfigError;
    t.ok(err instanceof ConfigError, `${c.name}: a ConfigError`);
    t.equal(err.code, 'E_CONFIG');
    t.equal(err.variable, 'CHECK_INTERVAL');
    t.equal(
      err.message,
      `CHECK_INTERVAL=${JSON.stringify(c.input)} is not a duration; use e.g. 30s, 5m, 1h30m`,
    );
  }
  t.end();
});

t.test('duration limits are checked with a readable minimum and maximum', (t) => {
  t.throws(() => parseDuration('5s', 'CHECK_INTERVAL', { min: 10_000 }), {
    message: 'CHECK_INTERVAL="5s" is too short; the minimum is 10s',
  });
  t.throws(() => parseDuration('2d', 'X', { max: 86_400_000 }), {
    message: 'X="2d" is too long; the maximum is 1d',
  });
  t.equal(parseDuration('10s', 'CHECK_INTERVAL', { min: 10_000 }), 10_000, 'the minimum itself is allowed');
  t.end();
});

t.test('durations format back into the short form', (t) => {
  const cases: [number, string][] = [
    [0, '0s'],
    [500, '500ms'],
    [10_000, '10s'],
    [5_400_000, '1h30m'],
    [90_061_001, '1d1h1m1s1ms'],
  ];
  for (const [ms, want] of cases) t.equal(formatDuration(ms), want, `${ms} ms is ${want}`);
  t.end();
});

t.test('booleans', (t) => {
  const cases: [string, boolean][] = [
    ['TRUE', true],
    ['true', true],
    ['1', true],
    ['yes', true],
    ['On', true],
    ['FALSE', false],
    ['false', false],
    ['0', false],
    ['no', false],
    ['off', false],
  ];
  for (const [input, want] of cases) t.equal(parseBool(input, 'RUN_ON_BOOT'), want, `${input} is ${want}`);
  t.throws(() => parseBool('maybe', 'RUN_ON_BOOT'), {
    message: 'RUN_ON_BOOT="maybe" is not a boolean; use TRUE or FALSE',
    variable: 'RUN_ON_BOOT',
  });
  t.end();
});

t.test('ports', (t) => {
  t.equal(parsePort('8080', 'HTTP_PORT'), 8080, 'a usual port is read');
  t.equal(parsePort('65535', 'HTTP_PORT'), 65535, 'the highest port is read');
  t.equal(parsePort('0', 'HTTP_PORT'), 0, 'port 0 means any free port');
  for (const bad of ['65536', '-1', 'http', '80.5', '']) {
    t.throws(
      () => parsePort(bad, 'HTTP_PORT'),
      {
        message: `HTTP_PORT=${JSON.stringify(bad)} is not a port; use a number from 1 to 65535, or 0 for any free port`,
      },
      `${JSON.stringify(bad)} is refused`,
    );
  }
  t.end();
});

t.test('integers respect their limits', (t) => {
  t.equal(parseInteger('4', 'REGISTRY_CONCURRENCY', { min: 1, max: 64 }), 4);
  t.throws(() => parseInteger('0', 'REGISTRY_CONCURRENCY', { min: 1, max: 64 }), {
    message: 'REGISTRY_CONCURRENCY="0" is out of range; use a number from 1 to 64',
  });
  t.throws(() => parseInteger('four', 'N'), { message: 'N="four" is not a whole number; use digits only' });
  t.throws(() => parseInteger('-1', 'N', { min: 0 }), {
    message: 'N="-1" is out of range; use a number of at least 0',
  });
  t.throws(() => parseInteger('9', 'N', { max: 5 }), {
    message: 'N="9" is out of range; use a number of at most 5',
  });
  t.end();
});

t.test('enums are matched case-insensitively and return the canonical spelling', (t) => {
  const levels = ['ERROR', 'WARN', 'INFO'] as const;
  t.equal(parseEnum('warn', levels, 'LOG_LEVEL'), 'WARN');
  t.equal(parseEnum(' Info ', levels, 'LOG_LEVEL'), 'INFO');
  t.throws(() => parseEnum('VERBOSE', levels, 'LOG_LEVEL'), {
    message: 'LOG_LEVEL="VERBOSE" is not allowed; use one of ERROR, WARN, INFO',
  });
  t.end();
});

t.test('lists drop blanks and duplicates and keep order', (t) => {
  t.same(parseList('b, a,,b , c'), ['b', 'a', 'c']);
  t.same(parseList(' , '), []);
  t.end();
});

t.test('URLs', (t) => {
  t.equal(parseUrl('https://example.com/v1', 'OPEN_AI_URL'), 'https://example.com/v1');
  t.equal(parseUrl('http://127.0.0.1:8080', 'X'), 'http://127.0.0.1:8080/', 'normalised');
  t.throws(() => parseUrl('example.com', 'PUBLIC_URL'), {
    message: 'PUBLIC_URL="example.com" is not an absolute URL; use e.g. https://example.com',
  });
  t.throws(() => parseUrl('ftp://example.com', 'PUBLIC_URL'), {
    message: 'PUBLIC_URL="ftp://example.com" must start with http:// or https://',
  });
  const err = t.throws(() => parseUrl('ftp://user:hunter2@x', 'OPEN_AI_URL', { secret: true })) as Error;
  t.notMatch(err.message, 'hunter2', 'a secret URL is not echoed');
  t.end();
});

t.test('long values are cut in messages', (t) => {
  const err = t.throws(() => parseBool('x'.repeat(500), 'RUN_ON_BOOT')) as Error;
  t.ok(err.message.length < 200);
  t.end();
});

t.test('reading the environment', (t) => {
  const env = { A: ' 5s ', BLANK: '  ', BAD: 'x' };
  t.equal(envValue(env, 'A'), '5s', 'values are trimmed');
  t.equal(envValue(env, 'BLANK'), undefined, 'a blank value counts as unset');
  t.equal(envValue(env, 'MISSING'), undefined);
  t.equal(envOr(env, 'A', parseDuration, 1), 5000, 'a set value is parsed with its name');
  t.equal(envOr(env, 'MISSING', parseDuration, 1), 1, 'an unset value gives the fallback');
  t.equal(envOptional(env, 'BLANK', parseDuration), undefined);
  const err = t.throws(() => envOr(env, 'BAD', parseDuration, 1)) as ConfigError;
  t.equal(err.variable, 'BAD', 'the variable name reaches the error');
  t.match(err.message, /^BAD="x" is not a duration/);
  t.end();
});

t.test('a ProblemCollector reports every bad variable in one error', (t) => {
  const c = new ProblemCollector();
  const a = c.read(() => parseBool('nope', 'RUN_ON_BOOT'), false);
  const b = c.read(() => parsePort('99999', 'HTTP_PORT'), 8080);
  const ok = c.read(() => parsePort('1', 'WEBHOOK_PORT'), 8443);
  c.add('TLS_KEY_FILE', 'TLS_CERT_FILE is set but TLS_KEY_FILE is not');
  t.equal(a, false, 'fallback after an error');
  t.equal(b, 8080);
  t.equal(ok, 1);
  const err = t.throws(() => c.throwIfAny()) as ConfigError;
  t.equal(err.problems.length, 3);
  t.equal(err.variable, 'RUN_ON_BOOT, HTTP_PORT, TLS_KEY_FILE');
  t.match(err.message, /^3 invalid settings: RUN_ON_BOOT="nope" is not a boolean/);
  t.throws(() => c.read(() => JSON.parse('{') as unknown, undefined), SyntaxError, 'other errors propagate');
  t.doesNotThrow(() => new ProblemCollector().throwIfAny(), 'nothing to report');
  t.end();
});
