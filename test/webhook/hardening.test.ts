// The security review's attacks on the admission path, through the real HTTPS webhook (items 1, 2 and 7).
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { RE2_SYNTAX_URL } from '../../shared/regex.ts';
import { fixture, patchOf, post, startTestWebhook } from './helpers.ts';
import type { Loose } from './helpers.ts';

/** Raw control characters (C0, DEL, C1) must never reach a denial, a warning or a log line. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** A denial lists at most ten problems of bounded size. */
const MAX_MESSAGE = 8 * 1024;

function review(annotations: Record<string, string>, containers?: Loose[]): Loose {
  const r = fixture('deployment-create.json');
  r.request.object.metadata.annotations = annotations;
  if (containers !== undefined) r.request.object.spec.template.spec.containers = containers;
  return r;
}

/** A pino logger whose lines the test can read. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

t.test(
  'patterns the old checker never returned on are denied promptly with the RE2 syntax link',
  async (t) => {
    const hook = await startTestWebhook(t);
    for (const pattern of ['\\k<', '\\u{', 'a\\u{1']) {
      const res = await post(hook.url, hook.ca, review({ 'image-watcher/include': pattern }));
      t.equal(res.status, 200, pattern);
      t.equal(res.json.response.allowed, false, `${pattern}: denied`);
      const message: string = res.json.response.status.message;
      t.match(message, `image-watcher/include: ${JSON.stringify(pattern)} is not allowed: `, pattern);
      t.match(message, /patterns use RE2 syntax/, pattern);
      t.match(message, RE2_SYNTAX_URL, pattern);
    }
    // The webhook is still serving: a valid review right after is answered.
    const ok = await post(hook.url, hook.ca, review({ 'image-watcher/include': '^1\\.' }));
    t.equal(ok.json.response.allowed, true);
  },
);

t.test(
  'the backtracking patterns of the security review are accepted (RE2 runs them in linear time) or denied',
  async (t) => {
    const hook = await startTestWebhook(t);
    const cases = [
      { pattern: '.*.*.*.*.*.*.*.*x', allowed: true },
      { pattern: '(.*a){12}$', allowed: true },
      { pattern: '^(.*\\.){10}x$', allowed: true },
      // \x? and \u? are not RE2 escapes: RE2 wants \x41 or \x{41}.
      { pattern: '(\\d+\\x?)+$', allowed: false },
      { pattern: '(a+\\u?)+$', allowed: false },
    ];
    for (const c of cases) {
      const res = await post(hook.url, hook.ca, review({ 'image-watcher/exclude': c.pattern }));
      t.equal(res.json.response.allowed, c.allowed, c.pattern);
      if (!c.allowed)
        t.match(res.json.response.status.message, /not valid RE2 syntax|not supported/, c.pattern);
    }
  },
);

t.test('a 2.86 MiB unknown key is denied with a bounded message and bounded log lines', async (t) => {
  const { logger, lines } = capturingLogger();
  const hook = await startTestWebhook(t, { logger });
  const key = `image-watcher/${'m'.repeat(3_000_000)}`;
  const res = await post(hook.url, hook.ca, review({ [key]: 'x'.repeat(100_000) }));
  t.equal(res.status, 200);
  t.equal(res.json.response.allowed, false);
  const message: string = res.json.response.status.message;
  t.ok(message.length < MAX_MESSAGE, `message of ${message.length} characters`);
  t.match(
    message,
    /^image-watcher\/m+… \(3000014 characters\) \(value "x+…" \(100000 characters\)\) is not a known/,
  );
  t.notMatch(message, /did you mean/, 'no suggestion for an absurd key');
  t.ok(lines.length > 0, 'the review was logged');
  for (const line of lines) t.ok(line.length < MAX_MESSAGE, `log line of ${line.length} characters`);
});

t.test('thousands of unknown keys give one bounded message', async (t) => {
  const hook = await startTestWebhook(t);
  const annotations: Record<string, string> = {};
  for (let i = 0; i < 10_000; i++) annotations[`image-watcher/unknown-${i}`] = 'v';
  const res = await post(hook.url, hook.ca, review(annotations));
  t.equal(res.json.response.allowed, false);
  const message: string = res.json.response.status.message;
  t.match(message, /^10000 invalid image-watcher annotations: \(1\) /);
  t.match(message, /; and 9990 more$/);
  t.ok(message.length < MAX_MESSAGE, `message of ${message.length} characters`);
});

t.test(
  '40,000 containers named by the containers annotation are reviewed (Sets, not includes)',
  async (t) => {
    const hook = await startTestWebhook(t);
    const containers = Array.from({ length: 40_000 }, (_, i) => ({
      name: `c${i}`,
      image: `reg.example/app:1.${i}`,
    }));
    const names = containers.map((c) => c.name);
    const res = await post(
      hook.url,
      hook.ca,
      review({ 'image-watcher/containers': names.join(',') }, containers),
    );
    t.equal(res.json.response.allowed, true);
    const stamped = patchOf(res.json)?.find(
      (op) => op.path === '/metadata/annotations/image-watcher~1current-version',
    );
    const versions = String(stamped?.value).split(',');
    t.equal(versions.length, 40_000, 'every watched container is stamped');
    t.equal(versions[0], 'c0=1.0');

    // The same with one name that does not exist: denied, and the lists in the message are cut.
    const denied = await post(
      hook.url,
      hook.ca,
      review({ 'image-watcher/containers': [...names, 'ghost'].join(',') }, containers),
    );
    t.equal(denied.json.response.allowed, false);
    const message: string = denied.json.response.status.message;
    t.match(message, /names containers that do not exist: ghost; existing: c0, c1, .*, c9 and 39990 more$/);
    t.ok(message.length < MAX_MESSAGE, `message of ${message.length} characters`);
  },
);

t.test('a 10,000-deep apiVersion gets a 400 naming the problem, not a 500', async (t) => {
  const hook = await startTestWebhook(t);
  const depth = 10_000;
  const body = `{"apiVersion":${'['.repeat(depth)}${']'.repeat(depth)},"kind":"AdmissionReview","request":{"uid":"u"}}`;
  const res = await post(hook.url, hook.ca, body);
  t.equal(res.status, 400);
  t.match(
    res.json.message,
    /^expected apiVersion "admission\.k8s\.io\/v1" and kind "AdmissionReview", got an array and "AdmissionReview"/,
  );
  const bell = await post(hook.url, hook.ca, {
    apiVersion: 'v1\u0007',
    kind: 'AdmissionReview',
    request: { uid: 'u' },
  });
  t.equal(bell.status, 400);
  t.notMatch(bell.json.message, RAW_CONTROL);
  t.match(bell.json.message, 'got "v1\\u0007"');
});

t.test('control characters from keys, values and container names are escaped', async (t) => {
  const { logger, lines } = capturingLogger();
  const hook = await startTestWebhook(t, { logger });
  const res = await post(
    hook.url,
    hook.ca,
    review({
      'image-watcher/mo\u0007de': '\u001b[31mred\u009b',
      'image-watcher/mode': 'AUTO\u0000',
      'image-watcher/containers': 'web,a\u0008b',
      'image-watcher/include': '(?<x\u0007',
    }),
  );
  t.equal(res.json.response.allowed, false);
  const message: string = res.json.response.status.message;
  t.notMatch(message, RAW_CONTROL, 'no raw control character in the denial');
  t.match(message, 'image-watcher/mo\\u0007de (value "\\u001b[31mred\\u009b")');
  t.match(message, 'image-watcher/mode: "AUTO\\u0000" is not a valid mode');
  t.match(message, 'invalid container names: a\\u0008b');
  t.match(message, /image-watcher\/include: "\(\?<x\\u0007" is not allowed/);
  for (const line of lines) t.notMatch(line, RAW_CONTROL, 'no raw control character in the log');

  // Warnings quote container names and images too.
  const warned = await post(hook.url, hook.ca, review({}, [{ name: 'web\u0007', image: 'UPPER\u001b/x:1' }]));
  const warnings: string[] = warned.json.response.warnings ?? [];
  t.ok(warnings.length > 0, 'a warning about the unreadable image');
  for (const w of warnings) t.notMatch(w, RAW_CONTROL, w);
});
