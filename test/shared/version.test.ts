import t from 'tap';
import { classifyChange, compareTags, parseTag, sameShape } from '../../shared/version.ts';
import type { ParsedTag, VersionChange } from '../../shared/version.ts';
import { TAG_FIXTURES, loadTags } from '../fixtures/tags/load.ts';

interface Shape {
  prefix?: string;
  numbers: number[];
  prerelease?: string;
  variant?: string;
  revision?: number;
  build?: string;
}

function parsed(raw: string, s: Shape): ParsedTag {
  return {
    raw,
    prefix: s.prefix ?? '',
    numbers: s.numbers,
    prerelease: s.prerelease,
    variant: s.variant,
    revision: s.revision,
    build: s.build,
  };
}

const parses: { name: string; input: string; want: Shape | undefined }[] = [
  // plain numbers
  { name: 'a three-part version is read', input: '1.25.3', want: { numbers: [1, 25, 3] } },
  { name: 'a two-part version is read', input: '1.25', want: { numbers: [1, 25] } },
  { name: 'a one-part version is read', input: '16', want: { numbers: [16] } },
  { name: 'a four-part version is read', input: '1.2.3.4', want: { numbers: [1, 2, 3, 4] } },
  { name: 'a five-part version is not a version', input: '1.2.3.4.5', want: undefined },
  { name: 'zero is a version', input: '0', want: { numbers: [0] } },
  { name: 'a 0.x version is read', input: '0.10.2', want: { numbers: [0, 10, 2] } },
  // prefixes
  { name: 'a v prefix is kept as the prefix', input: 'v2.11.0', want: { prefix: 'v', numbers: [2, 11, 0] } },
  {
    name: 'an upper case V prefix is kept as written',
    input: 'V1.0',
    want: { prefix: 'V', numbers: [1, 0] },
  },
  { name: 'a v prefix on a single number is read', input: 'v3', want: { prefix: 'v', numbers: [3] } },
  {
    name: 'a word prefix with a dash is read',
    input: 'release-1.2.3',
    want: { prefix: 'release-', numbers: [1, 2, 3] },
  },
  {
    name: 'a word prefix followed by v is one prefix',
    input: 'release-v1.2',
    want: { prefix: 'release-v', numbers: [1, 2] },
  },
  {
    name: 'a word prefix with an underscore is read',
    input: 'build_42',
    want: { prefix: 'build_', numbers: [42] },
  },
  {
    name: 'several words form one prefix',
    input: 'java-jdk-17.0',
    want: { prefix: 'java-jdk-', numbers: [17, 0] },
  },
  {
    name: 'an Ubuntu code name with a date stamp has the code name as prefix',
    input: 'jammy-20240111',
    want: { prefix: 'jammy-', numbers: [20240111] },
  },
  { name: 'a double v is not a prefix', input: 'vv1.2', want: undefined },
  { name: 'a word glued to the digits is not a prefix', input: 'jdk17', want: undefined },
  { name: 'an Alpine release glued to its name is not a version', input: 'alpine3.19', want: undefined },
  { name: 'a prefix containing digits is not a prefix', input: 'py3-1.0', want: undefined },
  // leading zeros and calendar versions
  {
    name: 'a calendar version with leading zeros reads as numbers',
    input: '2024.01.15',
    want: { numbers: [2024, 1, 15] },
  },
  { name: 'a date stamp is a one-part version', input: '20240115', want: { numbers: [20240115] } },
  { name: 'a Home Assistant calendar version is read', input: '2024.1.6', want: { numbers: [2024, 1, 6] } },
  { name: 'an Ubuntu release is a two-part version', input: '22.04', want: { numbers: [22, 4] } },
  { name: 'a leading zero part is read as a number', input: '1.02.003', want: { numbers: [1, 2, 3] } },
  {
    name: 'a 15-digit number is still a version',
    input: '202401151230450',
    want: { numbers: [202401151230450] },
  },
  { name: 'a 16-digit number is not a version', input: '2024011512304501', want: undefined },
  { name: 'a 20-digit number is not a version', input: '99999999999999999999', want: undefined },
  // prereleases
  {
    name: 'a dashed release candidate is a prerelease',
    input: 'v3.0.0-rc1',
    want: { prefix: 'v', numbers: [3, 0, 0], prerelease: 'rc1' },
  },
  {
    name: 'a dotted release candidate number is a prerelease',
    input: '1.0.0-rc.1',
    want: { numbers: [1, 0, 0], prerelease: 'rc.1' },
  },
  {
    name: 'a release candidate glued to the numbers is a prerelease',
    input: '16rc1',
    want: { numbers: [16], prerelease: 'rc1' },
  },
  {
    name: 'a beta glued to the numbers is a prerelease',
    input: '17beta2',
    want: { numbers: [17], prerelease: 'beta2' },
  },
  {
    name: 'a dashed beta with a number is a prerelease',
    input: 'v3.0.0-beta5',
    want: { prefix: 'v', numbers: [3, 0, 0], prerelease: 'beta5' },
  },
  {
    name: 'an alpha with a dotted number is a prerelease',
    input: '2.0.0-alpha.3',
    want: { numbers: [2, 0, 0], prerelease: 'alpha.3' },
  },
  {
    name: 'an alpha without a number is a prerelease',
    input: '2.0.0-alpha',
    want: { numbers: [2, 0, 0], prerelease: 'alpha' },
  },
  {
    name: 'a release candidate without a number is a prerelease',
    input: '7.2-rc',
    want: { numbers: [7, 2], prerelease: 'rc' },
  },
  {
    name: 'a release candidate with a dashed number is a prerelease',
    input: '1.0.0-rc-2',
    want: { numbers: [1, 0, 0], prerelease: 'rc-2' },
  },
  {
    name: 'a Python alpha is a prerelease',
    input: '3.13.0a1',
    want: { numbers: [3, 13, 0], prerelease: 'a1' },
  },
  {
    name: 'a Python beta is a prerelease',
    input: '3.13.0b2',
    want: { numbers: [3, 13, 0], prerelease: 'b2' },
  },
  {
    name: 'a Python release candidate is a prerelease',
    input: '3.13.0rc1',
    want: { numbers: [3, 13, 0], prerelease: 'rc1' },
  },
  {
    name: 'a Spring milestone is a prerelease',
    input: '3.2.0.M1',
    want: { numbers: [3, 2, 0], prerelease: 'M1' },
  },
  {
    name: 'a Spring release candidate after a dot is a prerelease',
    input: '3.2.0.RC1',
    want: { numbers: [3, 2, 0], prerelease: 'RC1' },
  },
  {
    name: 'a dashed milestone is a prerelease',
    input: '6.0.0-M2',
    want: { numbers: [6, 0, 0], prerelease: 'M2' },
  },
  {
    name: 'a spelled-out milestone is a prerelease',
    input: '6.0.0-milestone.2',
    want: { numbers: [6, 0, 0], prerelease: 'milestone.2' },
  },
  {
    name: 'a Maven snapshot is a prerelease',
    input: '1.0-SNAPSHOT',
    want: { numbers: [1, 0], prerelease: 'SNAPSHOT' },
  },
  {
    name: 'a preview is a prerelease',
    input: '8.0.0-preview.7',
    want: { numbers: [8, 0, 0], prerelease: 'preview.7' },
  },
  {
    name: 'a pre with a number is a prerelease',
    input: '1.4.0-pre2',
    want: { numbers: [1, 4, 0], prerelease: 'pre2' },
  },
  {
    name: 'a dev build is a prerelease',
    input: '2.1.0-dev',
    want: { numbers: [2, 1, 0], prerelease: 'dev' },
  },
  {
    name: 'a dev build with a number is a prerelease',
    input: '2.1.0.dev3',
    want: { numbers: [2, 1, 0], prerelease: 'dev3' },
  },
  {
    name: 'a canary is a prerelease',
    input: '14.1.1-canary.20',
    want: { numbers: [14, 1, 1], prerelease: 'canary.20' },
  },
  {
    name: 'a nightly with a date is a prerelease',
    input: '1.5.0-nightly.20240115',
    want: { numbers: [1, 5, 0], prerelease: 'nightly.20240115' },
  },
  {
    name: 'an early-access build is a prerelease',
    input: '22-ea-19',
    want: { numbers: [22], prerelease: 'ea-19' },
  },
  {
    name: 'a prerelease with several numbers is read',
    input: '1.0.0-rc.1.2',
    want: { numbers: [1, 0, 0], prerelease: 'rc.1.2' },
  },
  {
    name: 'a Home Assistant beta glued to the numbers is a prerelease',
    input: '2024.1.0b3',
    want: { numbers: [2024, 1, 0], prerelease: 'b3' },
  },
  // variants
  {
    name: 'an alpine variant is read',
    input: '1.25.3-alpine',
    want: { numbers: [1, 25, 3], variant: 'alpine' },
  },
  {
    name: 'a versioned alpine variant is read',
    input: '16.1-alpine3.19',
    want: { numbers: [16, 1], variant: 'alpine3.19' },
  },
  {
    name: 'a Debian code name variant is read',
    input: '7.2.4-bookworm',
    want: { numbers: [7, 2, 4], variant: 'bookworm' },
  },
  {
    name: 'a two-part variant is read',
    input: '20.11.0-bookworm-slim',
    want: { numbers: [20, 11, 0], variant: 'bookworm-slim' },
  },
  {
    name: 'a variant with a JDK version is read',
    input: '8.0-jdk17-slim',
    want: { numbers: [8, 0], variant: 'jdk17-slim' },
  },
  {
    name: 'a variant with a numeric second part is read',
    input: '16.1.0-debian-12',
    want: { numbers: [16, 1, 0], variant: 'debian-12' },
  },
  {
    name: 'an ubuntu variant is read',
    input: '10.2.3-ubuntu',
    want: { numbers: [10, 2, 3], variant: 'ubuntu' },
  },
  {
    name: 'a Windows variant with a build number is read',
    input: 'v2.11.0-windowsservercore-1809',
    want: { prefix: 'v', numbers: [2, 11, 0], variant: 'windowsservercore-1809' },
  },
  {
    name: 'a perl variant on a two-part version is read',
    input: '1.25-alpine-perl',
    want: { numbers: [1, 25], variant: 'alpine-perl' },
  },
  {
    name: 'a variant with an underscore is read',
    input: '8.0-nanoserver_1809',
    want: { numbers: [8, 0], variant: 'nanoserver_1809' },
  },
  {
    name: 'a word starting like dev is a variant, not a prerelease',
    input: '1.0.0-devel',
    want: { numbers: [1, 0, 0], variant: 'devel' },
  },
  {
    name: 'a word starting like pre is a variant, not a prerelease',
    input: '1.0.0-prebuilt',
    want: { numbers: [1, 0, 0], variant: 'prebuilt' },
  },
  {
    name: 'a word starting like beta is a variant, not a prerelease',
    input: '1.0.0-betamax',
    want: { numbers: [1, 0, 0], variant: 'betamax' },
  },
  {
    name: 'an alpine variant does not look like a Python alpha',
    input: '3.12-alpine',
    want: { numbers: [3, 12], variant: 'alpine' },
  },
  {
    name: 'a prerelease followed by a variant keeps both',
    input: '3.13.0rc1-slim',
    want: { numbers: [3, 13, 0], prerelease: 'rc1', variant: 'slim' },
  },
  {
    name: 'a dashed prerelease followed by a variant keeps both',
    input: 'v3.0.0-rc2-alpine',
    want: { prefix: 'v', numbers: [3, 0, 0], prerelease: 'rc2', variant: 'alpine' },
  },
  {
    name: 'an early-access build with a JDK variant keeps both',
    input: '22-ea-19-jdk-slim',
    want: { numbers: [22], prerelease: 'ea-19', variant: 'jdk-slim' },
  },
  {
    name: 'a preview with an ubuntu variant keeps both',
    input: '11.0.0-preview-ubuntu',
    want: { numbers: [11, 0, 0], prerelease: 'preview', variant: 'ubuntu' },
  },
  {
    name: 'a release candidate with an alpine variant and no number keeps both',
    input: '7.2-rc-alpine',
    want: { numbers: [7, 2], prerelease: 'rc', variant: 'alpine' },
  },
  {
    name: 'a mojaloop patch suffix is a variant',
    input: 'v10.4.0-patch.1',
    want: { prefix: 'v', numbers: [10, 4, 0], variant: 'patch.1' },
  },
  // revisions and build metadata
  {
    name: 'a bitnami revision is read apart from the variant',
    input: '1.2.3-debian-12-r4',
    want: { numbers: [1, 2, 3], variant: 'debian-12', revision: 4 },
  },
  {
    name: 'a bitnami revision zero is read',
    input: '16.4.0-debian-12-r0',
    want: { numbers: [16, 4, 0], variant: 'debian-12', revision: 0 },
  },
  {
    name: 'a revision without a variant is read',
    input: '2.4.1-r3',
    want: { numbers: [2, 4, 1], revision: 3 },
  },
  {
    name: 'a revision after a prerelease is read',
    input: '2.0.0-rc1-r2',
    want: { numbers: [2, 0, 0], prerelease: 'rc1', revision: 2 },
  },
  {
    name: 'an r word in the middle of a variant stays in the variant',
    input: '1.0.0-r2-slim',
    want: { numbers: [1, 0, 0], variant: 'r2-slim' },
  },
  {
    name: 'build metadata after a plus is kept apart',
    input: '1.0.0+build.5',
    want: { numbers: [1, 0, 0], build: 'build.5' },
  },
  {
    name: 'build metadata after a prerelease is kept apart',
    input: '2.0.0-rc.1+sha.5114f85',
    want: { numbers: [2, 0, 0], prerelease: 'rc.1', build: 'sha.5114f85' },
  },
  {
    name: 'build metadata after a revision is kept apart',
    input: '1.2.3-debian-12-r4+x',
    want: { numbers: [1, 2, 3], variant: 'debian-12', revision: 4, build: 'x' },
  },
  { name: 'an empty build after a plus is not a version', input: '1.0.0+', want: undefined },
  // underscore builds
  {
    name: 'an eclipse-temurin build number is a fourth part',
    input: '17.0.9_9-jdk',
    want: { numbers: [17, 0, 9, 9], variant: 'jdk' },
  },
  {
    name: 'an eclipse-temurin build on a two-part version is a third part',
    input: '21.0_12',
    want: { numbers: [21, 0, 12] },
  },
  { name: 'an underscore build after four parts is not a version', input: '1.2.3.4_5', want: undefined },
  // not versions
  { name: 'latest is not a version', input: 'latest', want: undefined },
  { name: 'stable is not a version', input: 'stable', want: undefined },
  { name: 'mainline is not a version', input: 'mainline', want: undefined },
  { name: 'a named channel with a variant is not a version', input: 'stable-perl', want: undefined },
  { name: 'lts-alpine is not a version', input: 'lts-alpine', want: undefined },
  { name: 'a branch name is not a version', input: 'main', want: undefined },
  {
    name: 'a cosign signature tag is not a version',
    input: 'sha256-1e0c4b1d7f4b2c9a6d5e8f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c.sig',
    want: undefined,
  },
  { name: 'a build cache tag is not a version', input: 'buildcache', want: undefined },
  { name: 'a short git hash starting with a digit is not a version', input: '7d3f9a1', want: undefined },
  { name: 'a short git hash starting with a letter is not a version', input: 'a94b3e2c', want: undefined },
  { name: 'angle brackets are not a version', input: '<>', want: undefined },
  { name: 'non-ASCII letters are not a version', input: 'ÄÖ', want: undefined },
  { name: 'non-ASCII digits are not a version', input: '١.٢.٣', want: undefined },
  { name: 'an empty string is not a version', input: '', want: undefined },
  { name: 'a lone v is not a version', input: 'v', want: undefined },
  { name: 'a double dot is not a version', input: '1..2', want: undefined },
  { name: 'a trailing dot is not a version', input: '1.2.', want: undefined },
  { name: 'a leading dot is not a version', input: '.1.2', want: undefined },
  { name: 'a leading dash is not a version', input: '-1.2', want: undefined },
  { name: 'a trailing dash is not a version', input: '1.2.3-', want: undefined },
  { name: 'a double dash before a variant is not a version', input: '1.2.3--alpine', want: undefined },
  { name: 'a variant ending in a dash is not a version', input: '1.2.3-alpine-', want: undefined },
  { name: 'a space inside is not a version', input: '1.2.3 alpine', want: undefined },
  { name: 'a numeric suffix without a word is not a version', input: '11.5.0-81938', want: undefined },
  { name: 'a Java 8 update tag is not a version', input: '8u392-b08-jdk', want: undefined },
  { name: 'a prefix with a number glued to letters is not a version', input: 'pr-1234x', want: undefined },
  {
    name: 'a tag longer than 128 characters is not a version',
    input: `1.0.0-${'a'.repeat(130)}`,
    want: undefined,
  },
  {
    name: 'a very long run of digits and dots is not a version',
    input: '1.'.repeat(200) + '1',
    want: undefined,
  },
];

for (const c of parses) {
  t.test(c.name, (t) => {
    const got = parseTag(c.input);
    if (c.want === undefined) t.equal(got, undefined);
    else t.same(got, parsed(c.input, c.want));
    t.end();
  });
}

t.test('a value that is not a string is not a version and does not throw', (t) => {
  t.equal(parseTag(undefined as unknown as string), undefined);
  t.equal(parseTag(12 as unknown as string), undefined);
  t.end();
});

t.test('hostile tags of maximum length parse quickly', (t) => {
  const hostile = [
    '1' + '-rc1'.repeat(31),
    '1.0.0-rc' + '1-'.repeat(60),
    '1-' + 'a-'.repeat(62) + '!',
    'a-'.repeat(63) + '!',
    '1.0.0-rc' + '.1'.repeat(59) + '!',
    '1' + '0'.repeat(127),
  ];
  const start = performance.now();
  for (let i = 0; i < 1000; i++) for (const h of hostile) parseTag(h);
  t.ok(performance.now() - start < 2000, 'no catastrophic backtracking');
  t.end();
});

const order: { name: string; input: [string, string]; want: -1 | 0 | 1 }[] = [
  { name: 'a higher patch is newer', input: ['1.25.4', '1.25.3'], want: 1 },
  { name: 'a higher minor is newer than any lower-minor patch', input: ['1.26.0', '1.25.99'], want: 1 },
  { name: 'a higher major is newer', input: ['2.0.0', '1.99.99'], want: 1 },
  { name: 'numbers compare as numbers, not text', input: ['1.10.0', '1.9.0'], want: 1 },
  { name: 'a lower version is older', input: ['1.2.3', '1.2.4'], want: -1 },
  { name: 'the same version is equal', input: ['1.2.3', '1.2.3'], want: 0 },
  { name: 'leading zeros do not change the value', input: ['2024.01.15', '2024.1.15'], want: 0 },
  { name: 'a later calendar date is newer', input: ['2024.02.05', '2024.01.22'], want: 1 },
  { name: 'a later date stamp is newer', input: ['20240201', '20240115'], want: 1 },
  { name: 'a fourth part counts', input: ['1.2.3.5', '1.2.3.4'], want: 1 },
  { name: 'a release is newer than its release candidate', input: ['3.0.0', '3.0.0-rc5'], want: 1 },
  { name: 'a release candidate is older than its release', input: ['v3.0.0-rc1', 'v3.0.0'], want: -1 },
  { name: 'a release candidate is newer than a beta', input: ['3.0.0-rc1', '3.0.0-beta5'], want: 1 },
  { name: 'a beta is newer than an alpha', input: ['3.0.0-beta1', '3.0.0-alpha9'], want: 1 },
  { name: 'an alpha is newer than a dev build', input: ['3.0.0-alpha1', '3.0.0-dev'], want: 1 },
  { name: 'a milestone is older than a release candidate', input: ['3.2.0.M2', '3.2.0.RC1'], want: -1 },
  { name: 'a milestone is newer than a beta', input: ['6.0.0-M1', '6.0.0-beta3'], want: 1 },
  { name: 'a preview is older than a release candidate', input: ['8.0.0-preview.7', '8.0.0-rc.1'], want: -1 },
  { name: 'a snapshot is older than its release', input: ['1.0-SNAPSHOT', '1.0'], want: -1 },
  {
    name: 'a snapshot of the next version is newer than the current release',
    input: ['1.1-SNAPSHOT', '1.0'],
    want: 1,
  },
  { name: 'prerelease numbers compare as numbers', input: ['3.0.0-rc10', '3.0.0-rc9'], want: 1 },
  { name: 'dotted and glued prerelease numbers are the same', input: ['1.0.0-rc.1', '1.0.0-rc1'], want: 0 },
  { name: 'prerelease keywords compare case-insensitively', input: ['3.2.0.RC1', '3.2.0-rc1'], want: 0 },
  {
    name: 'a prerelease without a number is older than one with a number',
    input: ['7.2-rc', '7.2-rc1'],
    want: -1,
  },
  { name: 'a Python beta is newer than its alpha', input: ['3.13.0b1', '3.13.0a4'], want: 1 },
  { name: 'a Python release candidate is newer than its beta', input: ['3.13.0rc1', '3.13.0b2'], want: 1 },
  { name: 'an early-access build number counts', input: ['22-ea-28', '22-ea-9'], want: 1 },
  {
    name: 'a higher bitnami revision is newer',
    input: ['16.1.0-debian-11-r20', '16.1.0-debian-11-r9'],
    want: 1,
  },
  {
    name: 'the version matters more than the revision',
    input: ['16.2.0-debian-12-r1', '16.1.0-debian-12-r20'],
    want: 1,
  },
  { name: 'revision zero is newer than no revision', input: ['1.0.0-r0', '1.0.0'], want: 1 },
  { name: 'build metadata is ignored', input: ['1.0.0+b2', '1.0.0+b1'], want: 0 },
  { name: 'an eclipse-temurin build number counts', input: ['17.0.10_7-jdk', '17.0.9_9-jdk'], want: 1 },
  { name: 'a higher build of the same JDK is newer', input: ['21.0.2_13-jdk', '21.0.2_9-jdk'], want: 1 },
  { name: 'a missing part counts as zero', input: ['1.2', '1.2.0'], want: 0 },
  { name: 'the prefix does not change the order', input: ['v1.2.3', '1.2.4'], want: -1 },
  { name: 'the variant does not change the order', input: ['1.2.4-alpine', '1.2.3'], want: 1 },
];

for (const c of order) {
  t.test(c.name, (t) => {
    const [a, b] = c.input.map((s) => parseTag(s));
    t.ok(a && b, 'both tags parse');
    if (a && b) {
      t.equal(compareTags(a, b), c.want);
      t.equal(compareTags(b, a), -c.want || 0, 'the reverse order is the opposite');
    }
    t.end();
  });
}

t.test('hand-written prereleases this parser never produces still order consistently', (t) => {
  const a = parsed('1.0.0-foo', { numbers: [1, 0, 0], prerelease: 'foo' });
  const b = parsed('1.0.0-zzz', { numbers: [1, 0, 0], prerelease: 'zzz' });
  const rc = parseTag('1.0.0-rc1')!;
  t.equal(compareTags(a, b), -1);
  t.equal(compareTags(b, a), 1);
  t.equal(compareTags(a, { ...a, raw: 'other' }), 0);
  t.equal(compareTags(a, rc), -1, 'unknown prereleases sort before known ones');
  t.end();
});

const shapes: { name: string; input: [string, string]; want: boolean }[] = [
  { name: 'two plain three-part versions have the same shape', input: ['1.25.3', '1.27.0'], want: true },
  { name: 'a two-part and a three-part version differ in shape', input: ['1.25', '1.25.3'], want: false },
  { name: 'a v prefix and no prefix differ in shape', input: ['v2.11.0', '2.11.0'], want: false },
  { name: 'different variants differ in shape', input: ['1.25.3-alpine', '1.25.3-bookworm'], want: false },
  { name: 'a variant and none differ in shape', input: ['1.25.3-alpine', '1.25.3'], want: false },
  {
    name: 'a versioned alpine variant differs from plain alpine',
    input: ['16.1-alpine3.19', '16.1-alpine'],
    want: false,
  },
  { name: 'a prerelease does not change the shape', input: ['v3.0.0-rc1', 'v3.0.0'], want: true },
  {
    name: 'a revision does not change the shape',
    input: ['16.1.0-debian-11-r9', '16.2.0-debian-11-r1'],
    want: true,
  },
  {
    name: 'a different Debian release in the variant differs in shape',
    input: ['16.1.0-debian-11-r9', '16.1.0-debian-12-r1'],
    want: false,
  },
  {
    name: 'the same code-name prefix has the same shape',
    input: ['jammy-20240111', 'jammy-20240125'],
    want: true,
  },
  {
    name: 'different code-name prefixes differ in shape',
    input: ['jammy-20240111', 'noble-20240225'],
    want: false,
  },
];

for (const c of shapes) {
  t.test(c.name, (t) => {
    const [a, b] = c.input.map((s) => parseTag(s));
    t.ok(a && b, 'both tags parse');
    if (a && b) {
      t.equal(sameShape(a, b), c.want);
      t.equal(sameShape(b, a), c.want, 'symmetric');
    }
    t.end();
  });
}

const changes: { name: string; input: [string, string]; want: VersionChange }[] = [
  { name: 'a new major is a major change', input: ['1.25.3', '2.0.0'], want: 'major' },
  { name: 'a new minor is a minor change', input: ['1.25.3', '1.26.0'], want: 'minor' },
  { name: 'a new patch is a patch change', input: ['1.25.3', '1.25.4'], want: 'patch' },
  { name: 'a new fourth part is a build change', input: ['1.2.3.4', '1.2.3.5'], want: 'build' },
  {
    name: 'a new eclipse-temurin build is a build change',
    input: ['17.0.9_9-jdk', '17.0.9_11-jdk'],
    want: 'build',
  },
  { name: 'a new one-part version is a major change', input: ['16', '17'], want: 'major' },
  { name: 'a new two-part minor is a minor change', input: ['16.1', '16.2'], want: 'minor' },
  { name: 'a new major with lower minor is still a major change', input: ['1.99.0', '2.0.0'], want: 'major' },
  {
    name: 'a release after its candidate is a prerelease change',
    input: ['v3.0.0-rc1', 'v3.0.0'],
    want: 'prerelease',
  },
  {
    name: 'a later release candidate is a prerelease change',
    input: ['v3.0.0-rc1', 'v3.0.0-rc2'],
    want: 'prerelease',
  },
  {
    name: 'a release candidate of a new major is a major change',
    input: ['v2.11.0', 'v3.0.0-rc1'],
    want: 'major',
  },
  {
    name: 'a new bitnami revision is a revision change',
    input: ['16.1.0-debian-11-r9', '16.1.0-debian-11-r20'],
    want: 'revision',
  },
  {
    name: 'a new version with a new revision is a version change',
    input: ['16.1.0-debian-11-r20', '16.2.0-debian-11-r1'],
    want: 'minor',
  },
  { name: 'the same version is a digest change', input: ['1.25.3', '1.25.3'], want: 'digest' },
  {
    name: 'equal versions written differently are a digest change',
    input: ['2024.01.15', '2024.1.15'],
    want: 'digest',
  },
  {
    name: 'only build metadata differing is a digest change',
    input: ['1.0.0+b1', '1.0.0+b2'],
    want: 'digest',
  },
  { name: 'a new calendar month is a minor change', input: ['2024.1.6', '2024.2.0'], want: 'minor' },
  { name: 'a new calendar year is a major change', input: ['2024.12.30', '2025.01.02'], want: 'major' },
];

for (const c of changes) {
  t.test(c.name, (t) => {
    const [a, b] = c.input.map((s) => parseTag(s));
    t.ok(a && b, 'both tags parse');
    if (a && b) t.equal(classifyChange(a, b), c.want);
    t.end();
  });
}

// Which tags of each real-world list are not versions: everything else must parse.
const notVersions: Record<string, string[]> = {
  nginx: [
    'alpine',
    'alpine-perl',
    'alpine-slim',
    'alpine3.18',
    'bookworm',
    'latest',
    'mainline',
    'mainline-alpine',
    'mainline-alpine-perl',
    'mainline-alpine-slim',
    'mainline-alpine3.18',
    'mainline-bookworm',
    'mainline-perl',
    'perl',
    'stable',
    'stable-alpine',
    'stable-alpine-perl',
    'stable-alpine-slim',
    'stable-bookworm',
    'stable-perl',
  ],
  node: [
    'alpine',
    'alpine3.19',
    'bookworm',
    'bookworm-slim',
    'current',
    'current-alpine',
    'current-bookworm-slim',
    'hydrogen',
    'hydrogen-alpine',
    'iron',
    'iron-alpine',
    'iron-bookworm-slim',
    'jod',
    'jod-alpine',
    'latest',
    'lts',
    'lts-alpine',
    'lts-bookworm-slim',
    'lts-hydrogen',
    'lts-iron',
    'slim',
  ],
  postgres: ['alpine', 'alpine3.19', 'bookworm', 'bullseye', 'latest'],
  redis: ['alpine', 'alpine3.19', 'bookworm', 'latest'],
  traefik: ['banon', 'brie', 'cantal', 'comte', 'latest', 'mimolette'],
  grafana: ['11.5.0-81938', 'main', 'main-ubuntu', 'latest', 'latest-ubuntu', 'nightly', 'nightly-ubuntu'],
  'bitnami-postgresql': ['latest'],
  homeassistant: ['beta', 'dev', 'latest', 'stable'],
  calendar: ['jammy', 'latest'],
  python: ['alpine', 'latest', 'slim'],
  java: ['8u392-b08-jdk', '8u402-b06-jdk'],
  mojaloop: ['latest'],
};

for (const name of TAG_FIXTURES) {
  t.test(`every tag of the ${name} list is a version unless it is a known non-version`, (t) => {
    const tags = loadTags(name);
    t.ok(tags.length >= 15, 'the fixture is a realistic list');
    const unparsed = tags.filter((tag) => parseTag(tag) === undefined);
    if (name === 'garbage') {
      t.same(unparsed, tags, 'no garbage tag parses as a version');
    } else {
      t.same(unparsed, notVersions[name] ?? [], 'non-versions');
    }
    t.end();
  });
}

t.test('sorting a real tag list with compareTags is a total order', (t) => {
  const tags = loadTags('traefik')
    .map((s) => parseTag(s))
    .filter((p): p is ParsedTag => p !== undefined);
  for (const a of tags) {
    t.equal(compareTags(a, a), 0);
    for (const b of tags) {
      if (Math.sign(compareTags(a, b)) !== -Math.sign(compareTags(b, a))) t.fail(`${a.raw} vs ${b.raw}`);
    }
  }
  const sorted = [...tags].sort(compareTags).map((p) => p.raw);
  t.equal(sorted.at(-1), 'v3.3.0-rc2', 'newest last');
  t.ok(sorted.indexOf('v3.0.0-beta5') < sorted.indexOf('v3.0.0-rc1'), 'beta before rc');
  t.ok(sorted.indexOf('v3.0.0-rc5') < sorted.indexOf('v3.0.0'), 'rc before release');
  t.end();
});
