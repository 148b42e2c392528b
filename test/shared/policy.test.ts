import t from 'tap';
import { HELD_REASONS, heldWording, overriddenByApproval } from '../../shared/policy.ts';

t.test('an approval overrides when and how old, never what may run', (t) => {
  t.same(
    HELD_REASONS.filter((r) => overriddenByApproval(r)),
    ['schedule', 'min-age'],
  );
  t.equal(overriddenByApproval('something-new'), false, 'an unknown reason is never overridden');
  t.end();
});

t.test('one wording of a hold', (t) => {
  const cases = [
    {
      held: {
        reason: 'min-age',
        version: '1.26.0',
        until: '2026-12-04T00:00:00Z',
        message: 'released 1d ago',
      },
      want: '1.26.0 is held (min-age) until 2026-12-04T00:00:00Z: released 1d ago',
    },
    {
      held: { reason: 'platform', version: '1.27.1', message: '1.27.1 lacks linux/arm64' },
      want: '1.27.1 is held (platform): 1.27.1 lacks linux/arm64',
    },
    {
      held: {
        reason: 'schedule',
        until: '2026-11-24T01:00:00.000Z',
        message: 'outside the maintenance window',
      },
      want: 'The newer version is held (schedule) until 2026-11-24T01:00:00.000Z: outside the maintenance window',
    },
  ];
  for (const c of cases) t.equal(heldWording(c.held), c.want, c.want);
  t.end();
});
