import t from 'tap';
import { formatProblems, parseWatchSettings } from '../../shared/annotations.ts';

function settings(a: Record<string, string>) {
  const r = parseWatchSettings(a);
  if (!r.ok) throw new Error(formatProblems(r.problems));
  return r.settings;
}

function problems(a: Record<string, string>): string {
  const r = parseWatchSettings(a);
  if (r.ok) throw new Error('expected problems');
  return formatProblems(r.problems);
}

t.test('the signature keys are read', (t) => {
  const table: { name: string; input: Record<string, string>; want: object }[] = [
    {
      name: 'verify cosign, any case',
      input: { 'image-watcher/verify': 'Cosign' },
      want: { verify: 'cosign' },
    },
    {
      name: 'a bare key name is a Secret',
      input: { 'image-watcher/verify-key': 'cosign-pub' },
      want: { verifyKey: { kind: 'Secret', name: 'cosign-pub' } },
    },
    {
      name: 'a ConfigMap is named with its kind',
      input: { 'image-watcher/verify-key': 'configmap/release-keys' },
      want: { verifyKey: { kind: 'ConfigMap', name: 'release-keys' } },
    },
    {
      name: 'a Secret is named with its kind',
      input: { 'image-watcher/verify-key': 'Secret/cosign.pub' },
      want: { verifyKey: { kind: 'Secret', name: 'cosign.pub' } },
    },
  ];
  for (const row of table) t.match(settings(row.input), row.want, row.name);
  t.end();
});

t.test('identity rules match the whole issuer and subject', (t) => {
  const s = settings({
    'image-watcher/verify-identity':
      'issuer=https://token\\.actions\\.githubusercontent\\.com subject=https://github\\.com/acme/.*; issuer=https://accounts\\.google\\.com subject=.*@acme\\.com',
  });
  const rules = s.verifyIdentity ?? [];
  t.equal(rules.length, 2);
  const gh = rules[0]!;
  t.ok(gh.issuer.test('https://token.actions.githubusercontent.com'));
  t.notOk(gh.issuer.test('https://token.actions.githubusercontent.com.evil.example'), 'no suffix');
  t.notOk(gh.issuer.test('xhttps://token.actions.githubusercontent.com'), 'no prefix');
  t.ok(gh.subject.test('https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main'));
  t.notOk(gh.subject.test('https://github.com/mallory/app'));
  t.ok(rules[1]!.subject.test('dev@acme.com'));
  t.equal(gh.issuer.source, 'https://token\\.actions\\.githubusercontent\\.com', 'source as written');
  t.end();
});

t.test('bad signature annotations are denied with the key and a reason', (t) => {
  const table: { name: string; input: Record<string, string>; want: RegExp }[] = [
    {
      name: 'an unknown verifier',
      input: { 'image-watcher/verify': 'notary' },
      want: /verify: "notary" is not a valid signature check; allowed: cosign/,
    },
    {
      name: 'an unknown object kind',
      input: { 'image-watcher/verify-key': 'pod/x' },
      want: /verify-key: "pod\/x" is not secret\/NAME or configmap\/NAME/,
    },
    {
      name: 'an invalid object name',
      input: { 'image-watcher/verify-key': 'secret/Bad_Name' },
      want: /is not secret\/NAME/,
    },
    {
      name: 'a rule without subject',
      input: { 'image-watcher/verify-identity': 'issuer=x' },
      want: /verify-identity: .* has a rule without both issuer and subject/,
    },
    {
      name: 'a field that is not key=value',
      input: { 'image-watcher/verify-identity': 'issuer=x subject' },
      want: /has "subject"; want "issuer=REGEX subject=REGEX"/,
    },
    {
      name: 'an unknown field',
      input: { 'image-watcher/verify-identity': 'issuer=x subject=y audience=z' },
      want: /without both issuer and subject/,
    },
    {
      name: 'a pattern RE2 cannot express',
      input: { 'image-watcher/verify-identity': 'issuer=(a)\\1 subject=y' },
      want: /is not allowed: backreferences/,
    },
    { name: 'only separators', input: { 'image-watcher/verify-identity': ';;' }, want: /has no rule/ },
  ];
  for (const row of table) t.match(problems(row.input), row.want, row.name);
  t.end();
});
