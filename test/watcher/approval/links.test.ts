import t from 'tap';
import {
  createApprovalUrl,
  DEFAULT_LINK_TTL_MS,
  parseKind,
  signTarget,
  verifyApproval,
  type ApprovalTarget,
} from '../../../watcher/approval/links.ts';

const SECRET = 'approval-secret-0123456789';
const NOW = Date.parse('2026-11-23T12:00:00Z');
const target: ApprovalTarget = {
  namespace: 'shop',
  kind: 'Deployment',
  name: 'web',
  version: '1.26.0',
  from: '1.25.0',
  stamp: '2026-11-20T10:00:00Z',
};

function parse(url: string) {
  const u = new URL(url);
  const [namespace, kind, name] = u.pathname.split('/').slice(-3).map(decodeURIComponent);
  return {
    route: { namespace: namespace!, kind: kind!, name: name! },
    params: Object.fromEntries(u.searchParams) as Record<string, string>,
  };
}

t.test('a fresh link verifies and names its target', (t) => {
  const url = createApprovalUrl(target, {
    secret: SECRET,
    publicUrl: 'https://iw.example.com/base/',
    now: NOW,
  });
  t.match(
    url,
    /^https:\/\/iw\.example\.com\/base\/approve\/shop\/Deployment\/web\?v=1\.26\.0&f=1\.25\.0&u=2026-11-20T10%3A00%3A00Z&exp=\d+&sig=[\w-]{43}$/,
  );
  const { route, params } = parse(url);
  t.same(params.exp, String((NOW + DEFAULT_LINK_TTL_MS) / 1000), 'expires after 3 days by default');
  t.same(verifyApproval(SECRET, route, params, NOW), {
    ok: true,
    target,
    expiresAt: (NOW + DEFAULT_LINK_TTL_MS) / 1000,
  });
  t.ok(verifyApproval(SECRET, { ...route, kind: 'deployment' }, params, NOW).ok, 'kind is case-insensitive');
  t.end();
});

t.test('links are refused when expired, tampered or signed with another secret', (t) => {
  const url = createApprovalUrl(target, {
    secret: SECRET,
    publicUrl: 'https://iw.example.com',
    now: NOW,
    ttlMs: 3_600_000,
  });
  const { route, params } = parse(url);
  const exp = Number(params.exp);
  const cases = [
    { name: 'one second before expiry it is valid', route, params, now: exp * 1000 - 1000, want: 'ok' },
    { name: 'at expiry it has expired', route, params, now: exp * 1000, want: 'expired' },
    {
      name: 'a later version is refused',
      route,
      params: { ...params, v: '2.0.0' },
      now: NOW,
      want: 'invalid',
    },
    {
      name: 'another namespace is refused',
      route: { ...route, namespace: 'prod' },
      params,
      now: NOW,
      want: 'invalid',
    },
    {
      name: 'another kind is refused',
      route: { ...route, kind: 'StatefulSet' },
      params,
      now: NOW,
      want: 'invalid',
    },
    { name: 'another name is refused', route: { ...route, name: 'api' }, params, now: NOW, want: 'invalid' },
    {
      name: 'an extended expiry is invalid, not merely expired',
      route,
      params: { ...params, exp: String(exp + 86_400) },
      now: NOW,
      want: 'invalid',
    },
    {
      name: 'an edited signature is refused',
      route,
      params: { ...params, sig: params.sig!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) },
      now: NOW,
      want: 'invalid',
    },
    {
      name: 'a truncated signature is refused',
      route,
      params: { ...params, sig: params.sig!.slice(0, 20) },
      now: NOW,
      want: 'invalid',
    },
    {
      name: 'a missing signature is refused',
      route,
      params: { v: params.v, exp: params.exp },
      now: NOW,
      want: 'invalid',
    },
    {
      name: 'a non-numeric expiry is refused',
      route,
      params: { ...params, exp: '1e12' },
      now: NOW,
      want: 'invalid',
    },
    {
      name: 'an unknown kind is refused',
      route: { ...route, kind: 'Pod' },
      params,
      now: NOW,
      want: 'invalid',
    },
    {
      name: 'array parameters are refused',
      route,
      params: { ...params, v: ['1.26.0'] },
      now: NOW,
      want: 'invalid',
    },
    {
      name: 'a separator smuggled into a field is refused',
      route: { ...route, name: 'web|1.26.0' },
      params,
      now: NOW,
      want: 'invalid',
    },
  ];
  for (const c of cases) {
    const got = verifyApproval(SECRET, c.route, c.params, c.now);
    t.equal(got.ok ? 'ok' : got.reason, c.want, c.name);
  }
  const other = verifyApproval('another-secret-0123456789', route, params, NOW);
  t.same(other, { ok: false, reason: 'invalid' }, 'another secret is refused');
  t.end();
});

t.test('a non-canonical base64url spelling of the signature is refused', (t) => {
  // 32 bytes -> 43 chars; the last char carries 4 padding bits, so a few spellings decode alike.
  const exp = Math.floor(NOW / 1000) + 60;
  const sig = signTarget(SECRET, target, exp);
  const last = sig.at(-1)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
  const alt = sig.slice(0, -1) + twin;
  t.same(Buffer.from(alt, 'base64url'), Buffer.from(sig, 'base64url'), 'precondition: same bytes');
  const got = verifyApproval(SECRET, target, { v: target.version, exp: String(exp), sig: alt }, NOW);
  t.same(got, { ok: false, reason: 'invalid' });
  t.end();
});

t.test('kinds and unsignable targets', (t) => {
  t.equal(parseKind('cronjob'), 'CronJob');
  t.equal(parseKind('ReplicaSet'), undefined);
  t.throws(() => signTarget(SECRET, { ...target, version: '' }, 1), RangeError);
  t.throws(() => signTarget(SECRET, { ...target, version: 'a|b' }, 1), RangeError);
  t.end();
});
