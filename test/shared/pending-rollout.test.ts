import t from 'tap';
import { checkManagedValues } from '../../shared/annotations.ts';
import { encodePendingRollout, parsePendingRollout } from '../../shared/pending-rollout.ts';
import type { PendingRollout } from '../../shared/pending-rollout.ts';

const rollout: PendingRollout = {
  deadline: '2026-11-23T10:10:00Z',
  changes: [
    {
      container: 'app',
      imagePath: '/spec/template/spec/containers/0/image',
      image: 'nginx:1.25.0',
      newImage: 'nginx:1.25.1',
      currentVersion: '1.25.0',
      newVersion: '1.25.1',
      change: 'patch',
    },
    {
      container: 'job',
      imagePath: '/spec/jobTemplate/spec/template/spec/initContainers/1/image',
      image: 'busybox:1.36@sha256:' + 'a'.repeat(64),
      newImage: 'busybox:1.36@sha256:' + 'b'.repeat(64),
      currentVersion: '1.36@sha256:' + 'a'.repeat(64),
      newVersion: '1.36@sha256:' + 'b'.repeat(64),
      change: 'digest',
    },
  ],
};

t.test('a pending rollout survives the round trip through its annotation', (t) => {
  const text = encodePendingRollout(rollout);
  t.same(parsePendingRollout(text), { ok: true, rollout });
  t.same(checkManagedValues({ 'image-watcher/rollout': text }), [], 'a valid value is no problem');
  // Extra fields (e.g. a newer watcher's) are dropped, not fatal.
  const extra = JSON.stringify({ ...rollout, note: 'x', changes: [{ ...rollout.changes[0], x: 1 }] });
  t.same(parsePendingRollout(extra), { ok: true, rollout: { ...rollout, changes: [rollout.changes[0]] } });
  t.end();
});

t.test('every malformed value is refused with the reason', (t) => {
  const change = rollout.changes[0]!;
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{', /is not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['null', 'null', /not a JSON object/],
    ['no deadline', JSON.stringify({ changes: [change] }), /deadline/],
    ['a bad deadline', JSON.stringify({ deadline: 'tomorrow', changes: [change] }), /deadline/],
    [
      'an impossible date',
      JSON.stringify({ deadline: '2026-13-45T99:00:00Z', changes: [change] }),
      /deadline/,
    ],
    ['no changes', JSON.stringify({ deadline: rollout.deadline }), /changes/],
    ['empty changes', JSON.stringify({ deadline: rollout.deadline, changes: [] }), /changes/],
    [
      'too many changes',
      JSON.stringify({ deadline: rollout.deadline, changes: Array.from({ length: 65 }, () => change) }),
      /1 to 64/,
    ],
    [
      'a change that is not an object',
      JSON.stringify({ deadline: rollout.deadline, changes: [1] }),
      /change 0/,
    ],
    [
      'a missing field',
      JSON.stringify({ deadline: rollout.deadline, changes: [{ ...change, newImage: undefined }] }),
      /"newImage"/,
    ],
    [
      'an empty field',
      JSON.stringify({ deadline: rollout.deadline, changes: [{ ...change, container: '' }] }),
      /"container"/,
    ],
    [
      'a path outside the image fields',
      JSON.stringify({ deadline: rollout.deadline, changes: [{ ...change, imagePath: '/metadata/name' }] }),
      /imagePath/,
    ],
    [
      'an unknown change',
      JSON.stringify({ deadline: rollout.deadline, changes: [{ ...change, change: 'huge' }] }),
      /unknown "change"/,
    ],
  ];
  for (const [name, value, reason] of cases) {
    const parsed = parsePendingRollout(value);
    t.equal(parsed.ok, false, name);
    if (!parsed.ok) t.match(parsed.reason, reason, `${name}: reason`);
    t.match(
      checkManagedValues({ 'image-watcher/rollout': value }),
      [{ key: 'image-watcher/rollout', message: reason }],
      `${name}: reported as a managed-value problem`,
    );
  }
  t.end();
});
