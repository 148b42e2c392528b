import t from 'tap';
import { HELD_REASONS, overriddenByApproval } from '../../shared/policy.ts';

t.test('an approval overrides when and how old, never what may run', (t) => {
  t.same(
    HELD_REASONS.filter((r) => overriddenByApproval(r)),
    ['schedule', 'min-age'],
  );
  t.equal(overriddenByApproval('something-new'), false, 'an unknown reason is never overridden');
  t.end();
});
