// Semver constraints on tags, the candidate list newest first, and a cross-check of compareTags
// against the semver package on every SemVer-shaped tag of the fixture lists.
import semver from 'semver';
import t from 'tap';
import { allowedCandidates, newestAllowed } from '../../shared/candidate.ts';
import { parseConstraint, satisfiesConstraint, semverOf } from '../../shared/constraint.ts';
import type { VersionConstraint } from '../../shared/constraint.ts';
import { compareTags, parseTag } from '../../shared/version.ts';
import { TAG_FIXTURES, loadTags } from '../fixtures/tags/load.ts';

function range(value: string): VersionConstraint {
  const r = parseConstraint(value);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

t.test('constraints are npm semver ranges', (t) => {
  for (const ok of ['>=1.20 <2', '~1.25', '^3 || ^4', '1.x', '*']) t.ok(parseConstraint(ok).ok, ok);
  for (const bad of ['>=banana', '^^1', 'x'.repeat(300)]) {
    const r = parseConstraint(bad);
    t.notOk(r.ok, bad.slice(0, 20));
  }
  t.end();
});

t.test('a tag is judged on its version: prefix dropped, missing parts as zero', (t) => {
  const cases: [string, string, boolean][] = [
    ['1.25', '>=1.20 <2', true],
    ['v1.25.3', '~1.25', true],
    ['1.26.0', '~1.25', false],
    ['2', '^3 || ^4', false],
    ['4.1', '^3 || ^4', true],
    ['release-1.2.3', '1.2.x', true],
    ['1.25.3-alpine', '~1.25', true], // a variant is not a prerelease
    ['1.2.3.4', '>=1.2.3 <1.2.4', true], // a fourth part is ignored
    ['1.21.0-rc.1', '>=1.20 <2', true], // prereleases as today: the strategy decides whether they count
    ['2.0.0-rc.1', '>=1.20 <2', false], // semver: <2 means below 2.0.0-0
  ];
  for (const [tag, r, want] of cases) {
    t.equal(satisfiesConstraint(parseTag(tag)!, range(r)), want, `${tag} ${r}`);
  }
  t.end();
});

t.test('the candidate rule with a constraint', (t) => {
  const tags = ['1.19.0', '1.20.0', '1.25.1', '1.25.4', '1.26.0', '2.0.0', '2.1.0'];
  t.equal(newestAllowed('1.19.0', tags, { strategy: 'ALL', constraint: range('>=1.20 <2') })?.tag, '1.26.0');
  t.equal(newestAllowed('1.25.1', tags, { strategy: 'ALL', constraint: range('~1.25') })?.tag, '1.25.4');
  t.equal(
    newestAllowed('1.19.0', tags, { strategy: 'ALL', constraint: range('>=3') }),
    undefined,
    'a constraint that excludes everything: no candidate',
  );
  t.same(
    allowedCandidates('1.19.0', tags, { strategy: 'ALL', constraint: range('>=3') }, 5),
    [],
    'and no fallback either',
  );
  t.same(
    allowedCandidates('1.19.0', tags, { strategy: 'MAJOR' }, 10).map((c) => c.tag),
    ['2.1.0', '2.0.0', '1.26.0', '1.25.4', '1.25.1', '1.20.0'],
    'all allowed, newest first',
  );
  t.same(
    allowedCandidates('1.19.0', tags, { strategy: 'MINOR', constraint: range('<1.26') }, 2).map((c) => c.tag),
    ['1.25.4', '1.25.1'],
    'bounded, narrowed by strategy and constraint together',
  );
  t.same(
    allowedCandidates('1.19.0', [...tags, '1.26.0', 'latest'], { strategy: 'MINOR' }, 10).map((c) => c.tag),
    ['1.26.0', '1.25.4', '1.25.1', '1.20.0'],
    'duplicates and non-versions left out',
  );
  t.equal(
    allowedCandidates('1.19.0', tags, { strategy: 'ALL' }, 10)[0]?.tag,
    newestAllowed('1.19.0', tags, { strategy: 'ALL' })?.tag,
    'newestAllowed is the first allowed candidate',
  );
  t.end();
});

t.test('the first allowed candidate is newestAllowed on every fixture list', (t) => {
  for (const name of TAG_FIXTURES) {
    const tags = loadTags(name);
    for (const current of tags.slice(0, 40)) {
      for (const strategy of ['ALL', 'MAJOR', 'MINOR', 'PATCH'] as const) {
        const a = allowedCandidates(current, tags, { strategy }, 3)[0]?.tag;
        const b = newestAllowed(current, tags, { strategy })?.tag;
        if (a !== b) t.fail(`${name} ${current} ${strategy}: ${a} != ${b}`);
      }
    }
  }
  t.pass('checked');
  t.end();
});

const SEMVER_SHAPED = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$/;

/** A prerelease's leading keyword ('rc' of 'rc.1'). */
const keyword = (v: semver.SemVer): string => String(v.prerelease[0] ?? '').replace(/\d+$/, '');

t.test('compareTags agrees with semver on every SemVer-shaped fixture tag', (t) => {
  let checked = 0;
  for (const name of TAG_FIXTURES) {
    const versions = loadTags(name)
      .filter((tag) => SEMVER_SHAPED.test(tag))
      .map((tag) => ({ tag, parsed: parseTag(tag), sv: semver.parse(tag) }))
      // A '-alpine' suffix is a variant to compareTags and a prerelease to semver: not comparable.
      .filter((x) => x.parsed !== undefined && x.sv !== null && x.parsed.variant === undefined)
      .filter((x) => x.parsed!.revision === undefined);
    const sorted = [...versions].sort((a, b) => semver.compare(a.sv!, b.sv!));
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1]!;
      const b = sorted[i]!;
      const want = Math.sign(semver.compare(a.sv!, b.sv!));
      const got = Math.sign(compareTags(a.parsed!, b.parsed!));
      checked++;
      if (got === want) continue;
      // The one known difference: compareTags ranks prerelease keywords as projects publish them
      // (dev < alpha < beta < rc); semver compares them as text.
      const ka = keyword(a.sv!);
      const kb = keyword(b.sv!);
      if (a.sv!.compareMain(b.sv!) === 0 && ka !== '' && kb !== '' && ka !== kb) continue;
      t.fail(`${name}: ${a.tag} vs ${b.tag}: semver ${want}, compareTags ${got}`);
    }
  }
  t.ok(checked > 100, `${checked} neighbouring pairs checked`);
  t.equal(semverOf(parseTag('v1.2')!)?.version, '1.2.0', 'semverOf pads missing parts');
  t.end();
});
