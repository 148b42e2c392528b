import fc from 'fast-check';
import t from 'tap';
import {
  ANNOTATIONS,
  checkManagedValues,
  decodeVersions,
  encodeVersions,
  formatProblems,
  formatTimestamp,
  isManagedKey,
  managedAnnotations,
  MANAGED_KEYS,
  MODES,
  parseWatchSettings,
  PREFIX,
  readManagedState,
  SINGLE_CONTAINER,
  USER_KEYS,
  versionOf,
} from '../../shared/annotations.ts';
import type { AnnotationProblem, ParseOptions, WatchSettings } from '../../shared/annotations.ts';

const defaults: WatchSettings = {
  mode: 'NOTIFICATION',
  strategy: 'ALL',
  releaseUrl: undefined,
  include: undefined,
  exclude: undefined,
  containers: undefined,
  schedule: undefined,
  timezone: undefined,
  minAgeMs: undefined,
  constraint: undefined,
  scope: undefined,
  verify: undefined,
  verifyKey: undefined,
  verifyIdentity: undefined,
  writeBack: 'live',
  gitRepo: undefined,
  gitBranch: undefined,
  gitPath: undefined,
  gitSecret: undefined,
  gitPush: 'direct',
};

function settingsOf(annotations: Record<string, string> | undefined, opts?: ParseOptions): WatchSettings {
  const r = parseWatchSettings(annotations, opts);
  if (!r.ok) throw new Error(`unexpected problems: ${formatProblems(r.problems)}`);
  return r.settings;
}

function problemsOf(annotations: Record<string, string>, opts?: ParseOptions): AnnotationProblem[] {
  const r = parseWatchSettings(annotations, opts);
  if (r.ok) throw new Error('expected problems');
  return r.problems;
}

t.test('the key tables', (t) => {
  t.ok(
    [...USER_KEYS, ...MANAGED_KEYS].every((k) => k.startsWith(PREFIX)),
    'every key is under image-watcher/',
  );
  t.equal(
    new Set([...USER_KEYS, ...MANAGED_KEYS]).size,
    USER_KEYS.length + MANAGED_KEYS.length,
    'no key twice',
  );
  t.same(
    [...USER_KEYS].sort(),
    [
      'constraint',
      'containers',
      'exclude',
      'git-branch',
      'git-path',
      'git-push',
      'git-repo',
      'git-secret',
      'include',
      'min-age',
      'mode',
      'release-url',
      'schedule',
      'scope',
      'strategy',
      'timezone',
      'verify',
      'verify-identity',
      'verify-key',
      'write-back',
    ].map((k) => PREFIX + k),
    'the contract user keys',
  );
  for (const k of [
    'last-updated',
    'last-updated-version',
    'last-notified',
    'last-notified-version',
    'previous-version',
    'current-version',
    'token-update',
  ]) {
    t.ok(isManagedKey(PREFIX + k), `${k} is managed`);
  }
  t.notOk(isManagedKey(ANNOTATIONS.mode), 'mode is not managed');
  t.equal(ANNOTATIONS.lastFailedVersion, 'image-watcher/last-failed-version');
  t.end();
});

const valid: {
  name: string;
  input: Record<string, string> | undefined;
  opts?: ParseOptions;
  want: Partial<WatchSettings>;
}[] = [
  { name: 'no annotations give the defaults', input: undefined, want: {} },
  {
    name: 'unrelated annotations are ignored',
    input: { 'app.kubernetes.io/name': 'web', 'other/mode': 'x' },
    want: {},
  },
  {
    name: 'an upper-case mode is read',
    input: { 'image-watcher/mode': 'AUTO_UPDATE' },
    want: { mode: 'AUTO_UPDATE' },
  },
  {
    name: 'a lower-case mode is read',
    input: { 'image-watcher/mode': 'auto_update' },
    want: { mode: 'AUTO_UPDATE' },
  },
  {
    name: 'a mixed-case mode is read',
    input: { 'image-watcher/mode': 'Disabled' },
    want: { mode: 'DISABLED' },
  },
  {
    name: 'a mode with spaces around is read',
    input: { 'image-watcher/mode': ' notification ' },
    want: { mode: 'NOTIFICATION' },
  },
  {
    name: 'a lower-case strategy is read',
    input: { 'image-watcher/strategy': 'minor' },
    want: { strategy: 'MINOR' },
  },
  {
    name: 'the patch strategy is read',
    input: { 'image-watcher/strategy': 'PATCH' },
    want: { strategy: 'PATCH' },
  },
  { name: 'a blank mode means the default', input: { 'image-watcher/mode': '' }, want: {} },
  { name: 'a blank strategy means the default', input: { 'image-watcher/strategy': '   ' }, want: {} },
  {
    name: 'a release url with the tag placeholder is kept as written',
    input: {
      'image-watcher/release-url': 'https://api.github.com/repos/traefik/traefik/releases/tags/${tag}',
    },
    want: { releaseUrl: 'https://api.github.com/repos/traefik/traefik/releases/tags/${tag}' },
  },
  {
    name: 'a plain http release url is accepted',
    input: { 'image-watcher/release-url': 'http://notes.internal/app' },
    want: { releaseUrl: 'http://notes.internal/app' },
  },
  {
    name: 'a comma list of containers is read, trimmed and deduplicated',
    input: { 'image-watcher/containers': 'web, sidecar,web,' },
    opts: { containerNames: ['web', 'sidecar', 'init-db'] },
    want: { containers: ['web', 'sidecar'] },
  },
  {
    name: 'containers are not checked against the workload when its names are not given',
    input: { 'image-watcher/containers': 'anything' },
    want: { containers: ['anything'] },
  },
  {
    name: 'managed keys are not problems here',
    input: { 'image-watcher/current-version': 'whatever', 'image-watcher/token-update': 'x' },
    want: {},
  },
  {
    name: 'the mode override wins over the annotation',
    input: { 'image-watcher/mode': 'AUTO_UPDATE' },
    opts: { overrides: { mode: 'DISABLED' } },
    want: { mode: 'DISABLED' },
  },
  {
    name: 'the strategy override applies without an annotation',
    input: {},
    opts: { overrides: { strategy: 'PATCH' } },
    want: { strategy: 'PATCH' },
  },
  {
    name: 'undefined overrides leave the annotations alone',
    input: { 'image-watcher/strategy': 'MAJOR' },
    opts: { overrides: { mode: undefined, strategy: undefined } },
    want: { strategy: 'MAJOR' },
  },
];

t.test('valid annotations', (t) => {
  for (const c of valid) t.same(settingsOf(c.input, c.opts), { ...defaults, ...c.want }, c.name);
  t.end();
});

t.test('include and exclude are compiled into RE2 patterns', (t) => {
  const s = settingsOf({ 'image-watcher/include': '^1\\.2[0-9]\\.', 'image-watcher/exclude': '-(rc|beta)' });
  t.ok(s.include?.test('1.25.3'));
  t.notOk(s.include?.test('2.0.0'));
  t.ok(s.exclude?.test('1.26.0-rc'));
  t.notOk(s.exclude?.test('1.26.0'));
  t.equal(s.include?.source, '^1\\.2[0-9]\\.');
  t.notOk(s.include instanceof RegExp, 'not a backtracking RegExp');
  t.end();
});

const invalid: { name: string; input: Record<string, string>; opts?: ParseOptions; want: string[] }[] = [
  {
    name: 'an unknown mode names the key, the value and the allowed values',
    input: { 'image-watcher/mode': 'AUTO' },
    want: ['image-watcher/mode: "AUTO" is not a valid mode; allowed: AUTO_UPDATE, NOTIFICATION, DISABLED'],
  },
  {
    name: 'an unknown strategy names the allowed strategies',
    input: { 'image-watcher/strategy': 'LATEST' },
    want: ['image-watcher/strategy: "LATEST" is not a valid strategy; allowed: ALL, MAJOR, MINOR, PATCH'],
  },
  {
    name: 'a misspelt key suggests the closest known key',
    input: { 'image-watcher/strategie': 'MINOR' },
    want: [''],
  },
  {
    name: 'a key in the wrong case suggests the right one',
    input: { 'image-watcher/Mode': 'AUTO_UPDATE' },
    want: [/did you mean image-watcher\/mode\?/.source],
  },
  {
    name: 'a misspelt managed key suggests the managed key',
    input: { 'image-watcher/last-update': '2024-01-01T00:00:00Z' },
    want: [/did you mean image-watcher\/last-updated\?/.source],
  },
  {
    name: 'a key far from every known key gets no suggestion, only the list',
    input: { 'image-watcher/colour': 'blue' },
    want: [
      /^image-watcher\/colour \(value "blue"\) is not a known image-watcher annotation\. Known keys: image-watcher\/mode/
        .source,
    ],
  },
  {
    name: 'an include pattern RE2 cannot express is refused with the reason and the syntax link',
    input: { 'image-watcher/include': '(a+)\\1' },
    want: [
      /^image-watcher\/include: "\(a\+\)\\\\1" is not allowed: backreferences \(\\1, \\k<name>\) are not supported; patterns use RE2 syntax \(no backreferences or lookaround; see https:\/\/github\.com\/google\/re2\/wiki\/Syntax\)$/
        .source,
    ],
  },
  {
    name: 'an invalid exclude pattern is refused',
    input: { 'image-watcher/exclude': '([a-z' },
    want: [
      /^image-watcher\/exclude: "\(\[a-z" is not allowed: it is not valid RE2 syntax \(missing closing \]/
        .source,
    ],
  },
  {
    name: 'a relative release url is refused with an example',
    input: { 'image-watcher/release-url': '/releases/${tag}' },
    want: [
      /^image-watcher\/release-url: "\/releases\/\$\{tag\}" is not an absolute http\(s\) URL \(e\.g\. https:/
        .source,
    ],
  },
  {
    name: 'a release url with another scheme is refused',
    input: { 'image-watcher/release-url': 'ftp://example.com/${tag}' },
    want: [/is not an absolute http\(s\) URL/.source],
  },
  {
    name: 'a release url with an unknown placeholder is refused',
    input: { 'image-watcher/release-url': 'https://example.com/${version}' },
    want: [/uses \$\{version\}; the only placeholder is \$\{tag\}/.source],
  },
  {
    name: 'a release url with credentials is refused',
    input: { 'image-watcher/release-url': 'https://user:pw@example.com/${tag}' },
    want: [/must not contain credentials/.source],
  },
  {
    name: 'an over-long release url is refused',
    input: { 'image-watcher/release-url': `https://example.com/${'a'.repeat(2100)}` },
    want: [/is longer than 2048 characters/.source],
  },
  {
    name: 'containers that do not exist are listed with the existing ones',
    input: { 'image-watcher/containers': 'web,sidecar,proxy' },
    opts: { containerNames: ['web', 'init-db'] },
    want: [
      'image-watcher/containers: "web,sidecar,proxy" names containers that do not exist: sidecar, proxy; existing: web, init-db',
    ],
  },
  {
    name: 'a containers list with only commas is refused',
    input: { 'image-watcher/containers': ' , ,' },
    want: [/lists no container/.source],
  },
  {
    name: 'an invalid container name is refused',
    input: { 'image-watcher/containers': 'Web_1' },
    want: [/has invalid container names: Web_1/.source],
  },
  {
    name: 'every problem is reported, not just the first',
    input: {
      'image-watcher/mode': 'sometimes',
      'image-watcher/strategy': 'newest',
      'image-watcher/include': '(?=x)',
      'image-watcher/strategie': 'x',
    },
    want: [
      /image-watcher\/mode: "sometimes"/.source,
      /image-watcher\/strategy: "newest"/.source,
      /image-watcher\/include/.source,
      /image-watcher\/strategie \(value "x"\) is not/.source,
    ],
  },
  {
    name: 'an invalid annotation is still reported when an override would hide it',
    input: { 'image-watcher/mode': 'AUTO' },
    opts: { overrides: { mode: 'NOTIFICATION' } },
    want: [/is not a valid mode/.source],
  },
];

t.test('invalid annotations', (t) => {
  for (const c of invalid) {
    const problems = problemsOf(c.input, c.opts);
    t.equal(problems.length, c.want.length, `${c.name}: count`);
    c.want.forEach((w, i) => {
      const message = problems[i]?.message ?? '';
      if (w.startsWith('image-watcher/') && !w.includes('\\')) t.equal(message, w, c.name);
      else t.match(message, new RegExp(w), c.name);
    });
  }
  t.end();
});

t.test('a problem carries the key, the raw value and the allowed values', (t) => {
  const [p] = problemsOf({ 'image-watcher/mode': ' Sometimes ' });
  t.equal(p?.key, 'image-watcher/mode');
  t.equal(p?.value, ' Sometimes ');
  t.same(p?.allowed, MODES);
  const [q] = problemsOf({ 'image-watcher/containers': 'x' }, { containerNames: ['a'] });
  t.same(q?.allowed, ['a']);
  const [u] = problemsOf({ 'image-watcher/typo': 'v' });
  t.same(u?.allowed, USER_KEYS);
  t.end();
});

t.test('a containers annotation on a workload without containers says so', (t) => {
  const [p] = problemsOf({ 'image-watcher/containers': 'web' }, { containerNames: [] });
  t.match(p?.message, 'existing: (none)');
  t.end();
});

t.test('formatProblems joins every problem into one denial message', (t) => {
  t.equal(formatProblems([]), 'no problems');
  const one = problemsOf({ 'image-watcher/mode': 'AUTO' });
  t.equal(formatProblems(one), one[0]?.message);
  const two = problemsOf({ 'image-watcher/mode': 'AUTO', 'image-watcher/strategy': 'X' });
  t.match(
    formatProblems(two),
    /^2 invalid image-watcher annotations: \(1\) image-watcher\/mode: .*; \(2\) image-watcher\/strategy: /,
  );
  t.end();
});

t.test('a huge bad value is cut in the message', (t) => {
  const [p] = problemsOf({ 'image-watcher/mode': 'x'.repeat(5000) });
  t.ok((p?.message.length ?? 0) < 300);
  t.equal(p?.value.length, 5000, 'the problem keeps the raw value');
  t.end();
});

t.test('managed state is read and written through the same table', (t) => {
  const annotations = {
    'image-watcher/current-version': 'web=1.2,db=3',
    'image-watcher/last-updated': '2024-05-01T12:00:00Z',
    'image-watcher/last-failed-version': '1.3',
    'image-watcher/previous-version': '  ',
    'image-watcher/mode': 'AUTO_UPDATE',
  };
  const state = readManagedState(annotations);
  t.same(state, {
    currentVersion: 'web=1.2,db=3',
    lastUpdated: '2024-05-01T12:00:00Z',
    lastFailedVersion: '1.3',
  });
  t.same(readManagedState(undefined), {});
  t.same(managedAnnotations(state), {
    'image-watcher/current-version': 'web=1.2,db=3',
    'image-watcher/last-updated': '2024-05-01T12:00:00Z',
    'image-watcher/last-failed-version': '1.3',
  });
  t.end();
});

t.test('managed values are checked lightly and the token is never echoed', (t) => {
  t.same(
    checkManagedValues({
      'image-watcher/last-updated': '2024-05-01T12:00:00Z',
      'image-watcher/last-notified': '2024-05-01T12:00:00.123+02:00',
      'image-watcher/current-version': 'web=1.2,db=3',
      'image-watcher/previous-version': '1.25-alpine',
      'image-watcher/token-update': 'aB3_-aB3_-aB3_-aB3_-',
    }),
    [],
    'good values pass',
  );
  const problems = checkManagedValues({
    'image-watcher/last-updated': 'yesterday',
    'image-watcher/current-version': 'web=1.2,=3',
    'image-watcher/token-update': 'short secret!',
  });
  t.same(
    problems.map((p) => p.key),
    ['image-watcher/last-updated', 'image-watcher/current-version', 'image-watcher/token-update'],
  );
  t.match(problems[0]?.message, 'is not an RFC 3339 timestamp');
  t.notMatch(JSON.stringify(problems), 'short secret', 'token value not in problems');
  t.end();
});

t.test('timestamps are RFC 3339 UTC without milliseconds', (t) => {
  t.equal(formatTimestamp(new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 123))), '2024-05-01T12:00:00Z');
  t.end();
});

t.test('versions per container', (t) => {
  t.equal(encodeVersions({ web: '1.25' }), '1.25', 'one container is a plain tag');
  t.equal(encodeVersions(new Map([['web', '1.25']])), '1.25', 'from a Map too');
  t.equal(
    encodeVersions(
      new Map([
        ['web', '1.25'],
        ['db', '16-alpine'],
      ]),
    ),
    'db=16-alpine,web=1.25',
    'several containers sorted by name',
  );
  t.equal(encodeVersions({}), '');
  // Any count and order (the short lists are sorted by hand): names in code-unit order.
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.string({ unit: fc.constantFrom('a', 'B', 'b', '-', '0', 'é'), minLength: 1, maxLength: 3 }),
        fc.constantFrom('1', '2'),
        { maxKeys: 24, noNullPrototype: true },
      ),
      (versions) => {
        const names = Object.keys(versions).sort();
        const want =
          names.length === 1 ? versions[names[0]!]! : names.map((n) => `${n}=${versions[n]}`).join(',');
        if (encodeVersions(versions) !== want || encodeVersions(new Map(Object.entries(versions))) !== want)
          throw new Error(`encoded ${encodeVersions(versions)}, want ${want}`);
      },
    ),
    { numRuns: 2000 },
  );

  t.same(
    [...decodeVersions('db=16-alpine,web=1.25')],
    [
      ['db', '16-alpine'],
      ['web', '1.25'],
    ],
  );
  t.same(
    [...decodeVersions('1.25', ['web'])],
    [['web', '1.25']],
    'a plain tag belongs to the only container',
  );
  t.same([...decodeVersions('1.25')], [[SINGLE_CONTAINER, '1.25']], 'a plain tag without names');
  t.same(
    [...decodeVersions(' web = 1.25 , junk, =2, db=, x=1=2 ')],
    [['web', '1.25']],
    'malformed entries skipped',
  );
  t.same([...decodeVersions(undefined)], []);
  t.same([...decodeVersions('  ')], []);
  t.same([...decodeVersions(',')], [], 'a lone comma holds nothing');

  const map = new Map([
    ['web', '1.25'],
    ['db', '16'],
  ]);
  t.same(decodeVersions(encodeVersions(map)), map, 'encode then decode round-trips');
  t.equal(versionOf(decodeVersions('1.25'), 'web'), '1.25', 'a plain tag answers for any container');
  t.equal(versionOf(map, 'db'), '16');
  t.equal(versionOf(map, 'cache'), undefined);
  t.end();
});

t.test('values that are not strings (untyped JSON) are problems, not crashes', (t) => {
  const annotations = { 'image-watcher/mode': 5, 'image-watcher/typo': null } as unknown as Record<
    string,
    string
  >;
  const problems = problemsOf(annotations);
  t.equal(problems[0]?.message, 'image-watcher/mode: "5" is not a string; quote the value in YAML');
  t.equal(problems[1]?.value, 'null');
  t.same(readManagedState({ 'image-watcher/current-version': 7 } as unknown as Record<string, string>), {});
  t.match(
    checkManagedValues({ 'image-watcher/last-updated': 7 } as unknown as Record<string, string>)[0]?.message,
    'is not an RFC 3339 timestamp',
  );
  t.end();
});

t.test('values of the wrong type from untyped JSON are named by their type, never thrown on', (t) => {
  const cases: [unknown, RegExp][] = [
    [7, /^image-watcher\/mode: "7" is not a string/],
    [10n, /^image-watcher\/mode: "bigint" is not a string/],
    [() => 1, /^image-watcher\/mode: "function" is not a string/],
  ];
  for (const [value, want] of cases) {
    const r = parseWatchSettings({ 'image-watcher/mode': value } as unknown as Record<string, string>);
    t.match(r.ok ? '' : r.problems[0]?.message, want, typeof value);
  }
  t.end();
});

t.test('the GitOps keys', (t) => {
  const s = settingsOf({
    'image-watcher/write-back': 'GIT',
    'image-watcher/git-repo': 'https://github.com/org/deploy.git',
    'image-watcher/git-branch': 'release/prod',
    'image-watcher/git-path': './apps//shop/',
    'image-watcher/git-secret': 'deploy-key',
    'image-watcher/git-push': 'pull-request',
  });
  t.same(
    [s.writeBack, s.gitRepo, s.gitBranch, s.gitPath, s.gitSecret, s.gitPush],
    ['git', 'https://github.com/org/deploy.git', 'release/prod', 'apps/shop', 'deploy-key', 'pull-request'],
  );
  for (const repo of [
    'ssh://git@github.com/org/deploy.git',
    'git@github.com:org/deploy.git',
    'https://gitea.internal:3000/ops/deploy',
  ]) {
    t.equal(settingsOf({ 'image-watcher/git-repo': repo }).gitRepo, repo, `${repo} is a repository`);
  }
  const bad: [string, string, RegExp][] = [
    ['git-repo', 'ftp://example.com/repo.git', /not an https or ssh URL/],
    ['git-repo', 'https://user:pass@github.com/org/deploy.git', /must not contain credentials/],
    ['git-repo', 'https://token@github.com/org/deploy.git', /must not contain credentials/],
    ['git-repo', '--upload-pack=touch /tmp/x', /not a Git repository URL/],
    ['git-repo', 'https://github.com/', /must name a repository path/],
    ['git-repo', 'file:///etc', /not an https or ssh URL/],
    ['git-branch', '-delete', /not a valid Git branch/],
    ['git-branch', 'a..b', /not a valid Git branch/],
    ['git-branch', 'main.lock', /not a valid Git branch/],
    ['git-path', '../outside', /relative path inside the repository/],
    ['git-path', '/etc/passwd', /relative path inside the repository/],
    ['git-secret', 'Not_A_Name', /not a Secret name/],
    ['git-push', 'force', /allowed: direct, branch, pull-request/],
    ['write-back', 'both', /allowed: live, git/],
  ];
  for (const [key, value, want] of bad) {
    const problems = problemsOf({ [`image-watcher/${key}`]: value });
    t.equal(problems.length, 1, `${key}=${value} is one problem`);
    t.match(problems[0]!.message, want, `${key}=${value}`);
    t.equal(problems[0]!.key, `image-watcher/${key}`);
  }
  t.same(
    checkManagedValues({
      'image-watcher/git-pending': '{}',
      'image-watcher/last-pushed-version': '1.2.3',
    }).map((p) => p.key),
    ['image-watcher/git-pending'],
    'git-pending is checked like a rollout record',
  );
  t.end();
});

t.test('policy keys: schedule, timezone, min-age, constraint', (t) => {
  const s = settingsOf({
    'image-watcher/schedule': '* 2-4 * * 1-5;30 22 * * 6',
    'image-watcher/timezone': 'Europe/Paris',
    'image-watcher/min-age': '7d',
    'image-watcher/constraint': '^3 || ^4',
  });
  t.same(s.schedule?.expressions, ['* 2-4 * * 1-5', '30 22 * * 6']);
  t.equal(s.timezone, 'Europe/Paris');
  t.equal(s.minAgeMs, 7 * 86_400_000);
  t.equal(s.constraint?.source, '^3 || ^4');
  t.equal(settingsOf({ 'image-watcher/min-age': '72h' }).minAgeMs, 72 * 3_600_000);

  const defaults = { schedule: s.schedule, timezone: 'Asia/Tokyo', minAgeMs: 1000 };
  const unset = settingsOf({}, { defaults });
  t.same(
    [unset.schedule, unset.timezone, unset.minAgeMs],
    [s.schedule, 'Asia/Tokyo', 1000],
    'cluster defaults',
  );
  const own = settingsOf({ 'image-watcher/min-age': '0s', 'image-watcher/timezone': 'UTC' }, { defaults });
  t.same([own.minAgeMs, own.timezone], [0, 'UTC'], 'annotations win over the defaults; 0s turns min-age off');

  const problems = problemsOf({
    'image-watcher/schedule': '61 * * * *',
    'image-watcher/timezone': 'Nowhere/Special',
    'image-watcher/min-age': '400d',
    'image-watcher/constraint': '>=1.2 <=banana',
  });
  t.same(
    problems.map((p) => p.key),
    ['image-watcher/schedule', 'image-watcher/timezone', 'image-watcher/min-age', 'image-watcher/constraint'],
    'every bad key reported at once, with its key',
  );
  t.match(
    problems[0]?.message,
    /"61 \* \* \* \*" has an invalid cron expression "61 \* \* \* \*": Invalid value for minute/,
  );
  t.match(problems[1]?.message, /"Nowhere\/Special" is not an IANA time zone name/);
  t.match(problems[2]?.message, /"400d" is not a duration from 0s to 366d/);
  t.match(problems[3]?.message, /">=1\.2 <=banana" is not an npm semver range/);
  t.end();
});
