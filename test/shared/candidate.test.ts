import t from 'tap';
import type { CandidateRule } from '../../shared/candidate.ts';
import { newestAllowed } from '../../shared/candidate.ts';

t.test('newestAllowed: the one rule for the newest allowed version', (t) => {
  const tags = ['1.2.0', '1.3.0', '1.4.0', '1.4.0-alpine', '2.0.0', '2.0.0-rc.1', 'latest'];
  const cases: { name: string; current: string; rule: CandidateRule; want: string | undefined }[] = [
    {
      name: 'ALL takes the newest stable of any major',
      current: '1.2.0',
      rule: { strategy: 'ALL' },
      want: '2.0.0',
    },
    { name: 'MINOR stays on the major', current: '1.2.0', rule: { strategy: 'MINOR' }, want: '1.4.0' },
    {
      name: 'the variant (shape) is kept',
      current: '1.2.0-alpine',
      rule: { strategy: 'ALL' },
      want: '1.4.0-alpine',
    },
    {
      name: 'include narrows the choice',
      current: '1.2.0',
      rule: { strategy: 'ALL', include: /^1\./ },
      want: '1.4.0',
    },
    {
      name: 'exclude drops tags',
      current: '1.2.0',
      rule: { strategy: 'ALL', exclude: /^2\./ },
      want: '1.4.0',
    },
    {
      name: 'a failed version and everything below it are skipped',
      current: '1.2.0',
      rule: { strategy: 'MINOR', failed: new Set(['1.4.0']) },
      want: undefined,
    },
    {
      name: 'an older failed version does not hold back newer ones',
      current: '1.2.0',
      rule: { strategy: 'MINOR', failed: new Set(['1.3.0']) },
      want: '1.4.0',
    },
    { name: 'never a downgrade', current: '3.0.0', rule: { strategy: 'ALL' }, want: undefined },
    { name: 'up to date: nothing', current: '2.0.0', rule: { strategy: 'ALL' }, want: undefined },
    {
      name: 'a non-version tag has no newer version',
      current: 'latest',
      rule: { strategy: 'ALL' },
      want: undefined,
    },
  ];
  for (const c of cases) t.equal(newestAllowed(c.current, tags, c.rule)?.tag, c.want, c.name);
  t.end();
});
