// One codec for the managed version annotations: the webhook's stamp and the watcher's reading
// of the same image must be equal, or the watcher sees a revert that never happened.
import t from 'tap';
import { managedVersion } from '../../shared/annotations.ts';
import { parseImageReference } from '../../shared/image-ref.ts';
import { runningVersion } from '../../watcher/check/decide.ts';
import { currentVersionOf } from '../../webhook/admission/review.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

t.test('webhook and watcher agree on every image shape', (t) => {
  const cases = [
    { image: 'nginx:1.25.3', want: '1.25.3' },
    { image: `nginx:1.25.3@${DIGEST}`, want: `1.25.3@${DIGEST}` },
    { image: `nginx@${DIGEST}`, want: DIGEST },
    { image: 'nginx', want: 'latest' },
    { image: `ghcr.io/org/app:latest@${DIGEST}`, want: `latest@${DIGEST}` },
  ];
  for (const c of cases) {
    const ref = parseImageReference(c.image);
    const warnings: string[] = [];
    const stamped = currentVersionOf(
      [{ name: 'app', image: c.image, init: false }],
      { containers: undefined },
      warnings,
    );
    t.equal(stamped, c.want, `webhook: ${c.image}`);
    t.equal(runningVersion(ref), c.want, `watcher: ${c.image}`);
    t.equal(managedVersion(ref), c.want, `codec: ${c.image}`);
  }
  t.end();
});
