import t from 'tap';
import type { PlanRow } from '../../../watcher/api.ts';
import { describeAction, formatPlan, planJson } from '../../../watcher/cli/plan.ts';
import { summarize } from '../../../watcher/once.ts';

const row = (over: Partial<PlanRow>): PlanRow => ({
  namespace: 'shop',
  kind: 'Deployment',
  name: 'web',
  container: 'app',
  image: 'nginx:1.25.3',
  current: '1.25.3',
  candidate: undefined,
  action: 'none',
  error: undefined,
  ...over,
});

t.test('pending, errors and the exit-code facts of a plan', (t) => {
  const rows = [
    row({ name: 'a' }),
    row({ name: 'b', action: 'update', candidate: '1.25.4' }),
    row({ name: 'c', action: 'notified', candidate: '1.25.4' }),
    row({
      name: 'd',
      held: { reason: 'schedule', until: '2026-12-02T02:00:00Z', message: 'outside the window' },
    }),
    row({ name: 'e', action: 'error', error: 'E_REGISTRY: down' }),
    row({ name: 'f', action: 'disabled' }),
  ];
  t.match(summarize(rows), { pending: 3, errors: 1 });
  t.match(summarize([row({}), row({ action: 'disabled' })]), { pending: 0, errors: 0 });
  t.end();
});

t.test('the table says what was done, or would be in a dry run', (t) => {
  const rows = [
    row({ name: 'web', action: 'update', candidate: '1.25.4' }),
    row({ name: 'api', action: 'notify', candidate: '1.26.0' }),
    row({
      name: 'db',
      held: {
        reason: 'min-age',
        version: '1.26.0',
        until: '2026-12-04T00:00:00Z',
        message: 'released 1d ago',
      },
    }),
    row({ name: 'bad', action: 'error', error: 'E_REGISTRY: unreachable' }),
  ];
  const dry = formatPlan(summarize(rows), true);
  t.match(dry, /^WORKLOAD\s+CONTAINER\s+VERSION\s+ACTION\n/);
  t.match(dry, /shop\/Deployment\/web\s+app\s+1\.25\.3 -> 1\.25\.4\s+would update\n/);
  t.match(dry, /shop\/Deployment\/api\s+app\s+1\.25\.3 -> 1\.26\.0\s+would notify\n/);
  t.match(
    dry,
    /shop\/Deployment\/db\s+app\s+1\.25\.3\s+1\.26\.0 is held \(min-age\) until 2026-12-04T00:00:00Z: released 1d ago\n/,
  );
  t.match(dry, /shop\/Deployment\/bad\s+app\s+1\.25\.3\s+error: E_REGISTRY: unreachable\n/);
  t.match(
    dry,
    /\n\n4 workloads, 4 containers: 3 with an update pending or applied, 1 errors \(dry run: nothing was changed or sent\)$/,
  );
  t.match(formatPlan(summarize(rows), false), /1\.25\.3 -> 1\.25\.4\s+updated, rollout started/);
  t.equal(formatPlan(summarize([]), true), 'no workload selected (dry run)');
  t.equal(describeAction(row({ action: 'reverted' }), true), 'reverted externally (would record it)');
  t.end();
});

t.test('--json: the same rows, absent values as null', (t) => {
  t.same(planJson(summarize([row({ action: 'update', candidate: '1.25.4' })]), true), {
    dryRun: true,
    pending: 1,
    errors: 0,
    plan: [
      {
        workload: 'shop/Deployment/web',
        namespace: 'shop',
        kind: 'Deployment',
        name: 'web',
        container: 'app',
        image: 'nginx:1.25.3',
        current: '1.25.3',
        candidate: '1.25.4',
        action: 'update',
        error: null,
        held: null,
      },
    ],
  });
  t.end();
});
