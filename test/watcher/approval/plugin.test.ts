import Fastify, { type FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { ConfigError } from '../../../shared/env.ts';
import type { WorkloadKind } from '../../../watcher/kube/types.ts';
import { createApprovalUrl } from '../../../watcher/approval/links.ts';
import {
  approvalPlugin,
  isAtOrAbove,
  type ApprovalDeps,
  type ApprovalInfo,
  type UpdateOutcome,
} from '../../../watcher/approval/plugin.ts';

const SECRET = 'approval-secret-0123456789';
const PUBLIC = 'http://watcher.test';
const NOW = Date.parse('2026-11-23T12:00:00Z');

interface Harness {
  app: FastifyInstance;
  updates: [string, WorkloadKind, string, string][];
  info: ApprovalInfo | undefined;
  outcome: UpdateOutcome | Error;
  logs: string[];
}

async function harness(t: Test, overrides: Partial<ApprovalDeps> = {}): Promise<Harness> {
  const logs: string[] = [];
  const app = Fastify({
    logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } },
  }) as unknown as FastifyInstance;
  const h: Harness = {
    app,
    updates: [],
    logs,
    outcome: { ok: true, message: 'The image of web is now 1.26.0; Kubernetes is rolling it out.' },
    info: {
      workload: { kind: 'Deployment', namespace: 'shop', name: 'web' },
      containers: ['nginx'],
      images: ['docker.io/library/nginx:1.25.3'],
      currentVersion: '1.25.3',
      newestVersion: '1.27.1',
      releaseNotes: {
        url: 'https://github.com/nginx/nginx/releases/tag/release-1.26.0',
        summary: 'HTTP/3 is stable. <script>alert(1)</script>',
      },
    },
  };
  const deps = {
    secret: SECRET,
    publicUrl: PUBLIC,
    now: () => NOW,
    lookup: () => h.info,
    update: (ns: string, kind: WorkloadKind, name: string, version: string) => {
      h.updates.push([ns, kind, name, version]);
      return h.outcome instanceof Error ? Promise.reject(h.outcome) : Promise.resolve(h.outcome);
    },
    ...overrides,
  } satisfies ApprovalDeps;
  await app.register(approvalPlugin, deps);
  t.teardown(() => app.close());
  return h;
}

function link(version = '1.26.0', opts: { now?: number; ttlMs?: number } = {}): string {
  const url = createApprovalUrl(
    { namespace: 'shop', kind: 'Deployment', name: 'web', version, from: '1.25.3', stamp: '' },
    { secret: SECRET, publicUrl: PUBLIC, now: opts.now ?? NOW, ...(opts.ttlMs ? { ttlMs: opts.ttlMs } : {}) },
  );
  return url.slice(PUBLIC.length);
}

function formOf(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1]!] = m[2]!;
  return { action, fields };
}

async function open(h: Harness, path = link()) {
  const res = await h.app.inject({ method: 'GET', url: path });
  const cookie = String(res.headers['set-cookie'] ?? '').split(';')[0] ?? '';
  return { res, cookie, form: formOf(res.body) };
}

function post(
  h: Harness,
  action: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return h.app.inject({
    method: 'POST',
    url: action,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(fields).toString(),
  });
}

t.test('a valid link shows the workload, both versions, notes and the button', async (t) => {
  const h = await harness(t);
  const { res, cookie, form } = await open(h);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.match(
    res.headers['content-security-policy'],
    /^default-src 'none'; style-src 'sha256-[\w+/=]+'; form-action 'self'/,
  );
  t.equal(res.headers['x-frame-options'], 'DENY');
  t.equal(res.headers['referrer-policy'], 'no-referrer');
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(
    String(res.headers['set-cookie']),
    /^iw_approve_[0-9a-f]{12}=[\w-]+; Path=\/approve\/; Max-Age=3600; HttpOnly; SameSite=Strict$/,
  );
  t.match(cookie, /^iw_approve_/);

  const html = res.body;
  t.match(html, /<html lang="en">/);
  t.match(html, /<h1>Update web to 1\.26\.0\?<\/h1>/);
  t.match(html, /<dt>Current version<\/dt><dd>1\.25\.3<\/dd>/);
  t.match(html, /<dt>Proposed version<\/dt><dd>1\.26\.0<\/dd>/);
  t.match(html, /A newer version, <code>1\.27\.1<\/code>, is also available/);
  t.match(html, /HTTP\/3 is stable\. &lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'notes are escaped');
  t.notMatch(html, /<script/);
  t.match(html, /<button type="submit">Update now<\/button>/);
  t.match(html, /This link expires 2026-11-26 12:00 UTC/);
  t.equal(form.action, '/approve/shop/Deployment/web');
  t.same(Object.keys(form.fields), ['v', 'f', 'u', 'exp', 'sig', 'csrf']);
  t.equal(form.fields.v, '1.26.0');
  t.same(h.updates, [], 'GET never updates');
});

t.test('pressing the button updates to exactly the linked version', async (t) => {
  const h = await harness(t);
  const { cookie, form } = await open(h);
  // What Chromium sends for a same-origin form post under Referrer-Policy: no-referrer.
  const res = await post(h, form.action, form.fields, {
    cookie,
    'sec-fetch-site': 'same-origin',
    origin: 'null',
  });
  t.equal(res.statusCode, 200);
  t.same(h.updates, [['shop', 'Deployment', 'web', '1.26.0']]);
  t.match(res.body, /<h1>Updating to 1\.26\.0<\/h1>/);
  t.match(res.body, /Kubernetes is rolling it out/);
  t.match(res.body, /role="status"/);
  t.equal(res.headers['x-frame-options'], 'DENY');
  const again = await post(h, form.action, form.fields, { cookie, origin: PUBLIC });
  t.equal(again.statusCode, 200, 'the public origin is accepted too');
});

t.test('a saved approval form replayed after a revert is refused with 409', async (t) => {
  const h = await harness(t);
  const { cookie, form } = await open(h);
  const headers = { cookie, 'sec-fetch-site': 'same-origin', origin: 'null' };
  t.equal((await post(h, form.action, form.fields, headers)).statusCode, 200, 'approved once');
  t.same(h.updates, [['shop', 'Deployment', 'web', '1.26.0']]);

  // The operator puts 1.25.3 back before the watcher noticed: the update stamp moved on.
  h.info = { ...h.info!, currentVersion: '1.25.3', lastUpdated: '2026-11-23T12:00:05Z' };
  const replay = await post(h, form.action, form.fields, headers);
  t.equal(replay.statusCode, 409);
  t.match(replay.body, /<h1>This link is out of date<\/h1>/);
  t.match(replay.body, /Nothing was changed/);
  t.equal((await open(h)).res.statusCode, 409, 'the link itself is refused too');

  // The watcher recorded the revert: last-failed-version names the link's version.
  h.info = { ...h.info, failedVersions: ['1.26.0'] };
  const recorded = await post(h, form.action, form.fields, headers);
  t.equal(recorded.statusCode, 409);
  t.match(recorded.body, /<h1>This version was rolled back<\/h1>/);

  // Even a link made after the revert cannot re-apply a failed version.
  const fresh = createApprovalUrl(
    {
      namespace: 'shop',
      kind: 'Deployment',
      name: 'web',
      version: '1.26.0',
      from: '1.25.3',
      stamp: '2026-11-23T12:00:05Z',
    },
    { secret: SECRET, publicUrl: PUBLIC, now: NOW },
  ).slice(PUBLIC.length);
  t.equal(
    (await open(h, fresh)).res.statusCode,
    409,
    'an explicit version never bypasses last-failed-version',
  );
  t.same(h.updates, [['shop', 'Deployment', 'web', '1.26.0']], 'applied once only');
});

t.test('a link is refused once the running version changed by any means', async (t) => {
  const h = await harness(t);
  const saved = await open(h);
  h.info = { ...h.info!, currentVersion: '1.25.4' };
  const res = await h.app.inject({ method: 'GET', url: link() });
  t.equal(res.statusCode, 409);
  t.match(res.body, /it ran 1\.25\.3 then and runs 1\.25\.4 now/);
  const replay = await post(h, saved.form.action, saved.form.fields, {
    cookie: saved.cookie,
    'sec-fetch-site': 'same-origin',
  });
  t.equal(replay.statusCode, 409);
  const forged = await post(
    h,
    saved.form.action,
    { ...saved.form.fields, f: '1.25.4' },
    { cookie: saved.cookie },
  );
  t.equal(forged.statusCode, 403, 'the bound version cannot be edited: the signature covers it');
  t.same(h.updates, []);
});

t.test('refusals: expired, tampered, cross-site, without the form cookie', async (t) => {
  const h = await harness(t);
  const expired = await h.app.inject(link('1.26.0', { now: NOW - 8 * 86_400_000 }));
  t.equal(expired.statusCode, 403);
  t.match(expired.body, /<h1>This approval link has expired<\/h1>/);
  t.match(expired.body, /role="alert"/);

  const tampered = await h.app.inject(link().replace('v=1.26.0', 'v=1.27.1'));
  t.equal(tampered.statusCode, 403);
  t.match(tampered.body, /<h1>This link is not valid<\/h1>/);
  t.notMatch(tampered.body, /version|signature/i, 'no detail about which part was wrong');

  const bare = await h.app.inject('/approve/shop/Deployment/web');
  t.equal(bare.statusCode, 403);

  const { cookie, form } = await open(h);
  const cases: {
    name: string;
    headers: Record<string, string>;
    fields: Record<string, string>;
    status: number;
    text?: RegExp;
  }[] = [
    {
      name: 'another site posting the form',
      headers: { cookie, 'sec-fetch-site': 'cross-site' },
      fields: form.fields,
      status: 403,
    },
    {
      name: 'a foreign Origin',
      headers: { cookie, origin: 'https://evil.example' },
      fields: form.fields,
      status: 403,
    },
    {
      name: 'a null Origin from another site',
      headers: { cookie, origin: 'null', 'sec-fetch-site': 'cross-site' },
      fields: form.fields,
      status: 403,
    },
    { name: 'no form cookie', headers: {}, fields: form.fields, status: 403, text: /Please confirm again/ },
    {
      name: 'a forged form token',
      headers: { cookie },
      fields: { ...form.fields, csrf: 'x'.repeat(43) },
      status: 403,
    },
    {
      name: 'a later version in the body',
      headers: { cookie },
      fields: { ...form.fields, v: '1.27.1' },
      status: 403,
      text: /This link is not valid/,
    },
  ];
  for (const c of cases) {
    const res = await post(h, form.action, c.fields, c.headers);
    t.equal(res.statusCode, c.status, c.name);
    if (c.text) t.match(res.body, c.text, c.name);
  }
  t.same(h.updates, [], 'nothing was updated');
});

t.test('a workload already at or past the version gets a friendly page', async (t) => {
  const h = await harness(t);
  const { cookie, form } = await open(h);
  h.info = { ...h.info!, currentVersion: '1.27.1' };
  const get = await h.app.inject(link());
  t.equal(get.statusCode, 200);
  t.match(get.body, /<h1>Already up to date<\/h1>/);
  t.match(get.body, /already runs 1\.27\.1/);
  t.notMatch(get.body, /<form/);
  const res = await post(h, form.action, form.fields, { cookie });
  t.match(res.body, /Already up to date/);
  t.same(h.updates, []);
});

t.test('a workload that is gone is reported', async (t) => {
  const h = await harness(t);
  h.info = undefined;
  const res = await h.app.inject(link());
  t.equal(res.statusCode, 404);
  t.match(res.body, /<h1>Workload not found<\/h1>/);
});

t.test('a failed update shows its message; a crash shows a generic one', async (t) => {
  const h = await harness(t);
  const { cookie, form } = await open(h);
  h.outcome = { ok: false, message: 'The patch was refused: the workload changed meanwhile. Try again.' };
  const failed = await post(h, form.action, form.fields, { cookie });
  t.equal(failed.statusCode, 502);
  t.match(failed.body, /<h1>The update failed<\/h1>/);
  t.match(failed.body, /the workload changed meanwhile/);

  h.outcome = new Error('socket hang up to 10.0.0.1 with token abc');
  const crashed = await post(h, form.action, form.fields, { cookie });
  t.equal(crashed.statusCode, 502);
  t.match(crashed.body, /could not be applied/);
  t.notMatch(crashed.body, /socket hang up|token abc/, 'internal errors are not shown');
  t.equal(h.updates.length, 2);
});

t.test('a second click while an update runs is told to wait', async (t) => {
  let release!: () => void;
  const h = await harness(t, {
    update: () =>
      new Promise<UpdateOutcome>((resolve) => (release = () => resolve({ ok: true, message: 'done' }))),
  });
  const { cookie, form } = await open(h);
  const first = post(h, form.action, form.fields, { cookie });
  await new Promise((r) => setTimeout(r, 20));
  const second = await post(h, form.action, form.fields, { cookie });
  t.equal(second.statusCode, 409);
  t.match(second.body, /already running/);
  release();
  t.equal((await first).statusCode, 200);
});

t.test('odd requests get an HTML page, not a crash', async (t) => {
  const h = await harness(t);
  const res = await h.app.inject({
    method: 'POST',
    url: '/approve/shop/Deployment/web',
    headers: { 'content-type': 'application/xml' },
    payload: 'hello',
  });
  t.equal(res.statusCode, 415);
  t.match(res.headers['content-type'], /text\/html/);
  t.match(res.body, /This request cannot be handled/);

  const big = await post(h, '/approve/shop/Deployment/web', { v: 'x'.repeat(20_000) });
  t.equal(big.statusCode, 413);
  t.equal(big.headers['content-security-policy']?.toString().startsWith("default-src 'none'"), true);
});

t.test('the link signature never reaches the request log', async (t) => {
  const h = await harness(t);
  const path = link();
  const sig = new URLSearchParams(path.split('?')[1]).get('sig')!;
  await h.app.inject(path);
  t.ok(
    h.logs.some((l) => l.includes('/approve/shop/Deployment/web')),
    'requests are logged',
  );
  t.notOk(
    h.logs.some((l) => l.includes(sig)),
    'without the signature',
  );
});

t.test('the plugin refuses a weak secret or a bad public URL at registration', async (t) => {
  const base = {
    now: () => NOW,
    lookup: () => undefined,
    update: () => Promise.resolve({ ok: true, message: '' }),
  };
  for (const [name, deps, variable] of [
    ['short secret', { ...base, secret: 'short', publicUrl: PUBLIC }, 'APPROVAL_SECRET'],
    ['relative public URL', { ...base, secret: SECRET, publicUrl: '/watcher' }, 'PUBLIC_URL'],
    ['ftp public URL', { ...base, secret: SECRET, publicUrl: 'ftp://x' }, 'PUBLIC_URL'],
  ] as const) {
    const app = Fastify();
    const err = await app
      .register(approvalPlugin, deps)
      .ready()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    t.ok(err instanceof ConfigError, name);
    t.equal((err as ConfigError).variable, variable, name);
    await app.close();
  }
});

t.test('a public URL with a path prefix is used for the form and cookie', async (t) => {
  const h = await harness(t, { publicUrl: 'https://tools.example.com/iw/' });
  const { res, form } = await open(h);
  t.equal(form.action, '/iw/approve/shop/Deployment/web');
  t.match(String(res.headers['set-cookie']), /Path=\/iw\/approve\/;.*SameSite=Strict; Secure$/);
});

t.test('version comparison for "already up to date"', (t) => {
  const table = [
    { name: 'same tag', input: ['1.2.3', '1.2.3'], want: true },
    { name: 'newer current', input: ['1.3.0', '1.2.9'], want: true },
    { name: 'older current', input: ['1.2.3', '1.2.4'], want: false },
    { name: 'different shapes are not compared', input: ['1.3.0-alpine', '1.2.0'], want: false },
    { name: 'non-versions are equal or not', input: ['latest', 'stable'], want: false },
  ] as const;
  for (const c of table) t.equal(isAtOrAbove(c.input[0], c.input[1]), c.want, c.name);
  t.end();
});

t.test('a failing lookup shows a generic error page', async (t) => {
  const h = await harness(t, { lookup: () => Promise.reject(new Error('kube API at 10.0.0.1 unreachable')) });
  const res = await h.app.inject(link());
  t.equal(res.statusCode, 500);
  t.match(res.body, /<h1>Something went wrong<\/h1>/);
  t.notMatch(res.body, /10\.0\.0\.1/);
  t.equal(res.headers['x-frame-options'], 'DENY');
});

t.test('the page says why a version is held and until when', async (t) => {
  const h = await harness(t);
  h.info = {
    ...h.info!,
    held: {
      reason: 'schedule',
      version: '1.26.0',
      until: '2026-11-24T01:00:00.000Z',
      message: 'outside the maintenance window (Every minute, between 02:00 and 04:59 (Europe/Paris))',
    },
  };
  const { res } = await open(h);
  t.equal(res.statusCode, 200);
  t.match(
    res.body,
    '<p class="note">1.26.0 is held (schedule) until 2026-11-24T01:00:00.000Z: outside the maintenance window (Every minute, between 02:00 and 04:59 (Europe/Paris)). Approving applies it now anyway.',
  );
  h.info = {
    ...h.info,
    held: { reason: 'platform', version: '1.27.1', message: '1.27.1 lacks linux/arm64 <b>' },
  };
  const second = await open(h);
  t.match(second.res.body, '1.27.1 lacks linux/arm64 &lt;b&gt;. An approval cannot override this rule.');
});

t.test('the page shows who signed the proposed version, escaped', async (t) => {
  const h = await harness(t);
  h.info = {
    ...h.info!,
    signedBy: 'https://github.com/acme/<b>app</b> (issuer https://token.actions.githubusercontent.com)',
  };
  const { res } = await open(h);
  t.match(
    res.body,
    /<dt>Signed by<\/dt><dd>https:\/\/github\.com\/acme\/&lt;b&gt;app&lt;\/b&gt; \(issuer https:\/\/token\.actions\.githubusercontent\.com\)<\/dd>/,
  );
  const unsigned = await harness(t);
  t.notMatch((await open(unsigned)).res.body, /Signed by/, 'no row without a verified signature');
});
