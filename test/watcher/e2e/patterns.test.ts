// The security review's regex findings against the watcher: the real controller, client-node against the fake API
// server and the real docker-registry. A workload admitted with a pattern the old checker never
// returned on (failurePolicy: Ignore lets it through a crashed webhook) and workloads whose
// backtracking patterns meet 100-character tags must not take the watcher down.
import t from 'tap';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import { deployment, fakeKube, startWatcher } from './support.ts';

let registry: RunningRegistry;
/** A variant of 94 characters: every candidate is a 100-character tag of the current tag's shape. */
const VARIANT = `a${'.a'.repeat(46)}a`;
const hostile = (patch: number) => `1.0.${patch}-${VARIANT}`;

t.before(async () => {
  registry = await startRegistry();
  await pushImage(
    registry.url,
    'shop/hostile',
    Array.from({ length: 12 }, (_, i) => hostile(i)),
    buildImage(),
  );
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.1.0'], buildImage());
});
t.teardown(() => registry.stop());

t.test('one cycle over workloads with hostile patterns completes; each gets its answer', async (t) => {
  t.equal(hostile(0).length, 100);
  const kube = await fakeKube(t.teardown.bind(t));
  const image = `${registry.host}/shop/hostile:${hostile(0)}`;
  kube.seed(deployment('never-returned', image, { 'image-watcher/include': '\\k<' }));
  kube.seed(deployment('code-point', image, { 'image-watcher/exclude': 'a\\u{1' }));
  kube.seed(deployment('stars', image, { 'image-watcher/include': '(.*a){12}$' }));
  kube.seed(deployment('dots', image, { 'image-watcher/include': '^(.*\\.){10}x$' }));
  kube.seed(deployment('explosion', image, { 'image-watcher/include': '(a|\\.)*a(a|\\.){19}$' }));
  kube.seed(deployment('web', `${registry.host}/shop/web:1.0.0`));
  const notices: UpdateNotice[] = [];
  const w = await startWatcher(t.teardown.bind(t), kube, { notices });
  await w.controller.runCycle();

  const views = new Map(w.controller.workloads().map((v) => [v.name, v]));
  t.match(
    views.get('never-returned')?.lastError,
    /image-watcher\/include: "\\\\k<" is not allowed: backreferences/,
  );
  t.match(
    views.get('code-point')?.lastError,
    /image-watcher\/exclude: "a\\\\u\{1" is not allowed: the escape \\u/,
  );
  const newest = (name: string) => notices.find((n) => n.workload.name === name)?.newVersion;
  t.equal(newest('stars'), hostile(11), '(.*a){12}$ matches every candidate: the newest wins');
  t.equal(newest('dots'), undefined, '^(.*\\.){10}x$ matches none');
  t.equal(newest('explosion'), hostile(11));
  t.equal(newest('web'), '1.1.0', 'the other workloads are still served');
  t.equal(newest('never-returned'), undefined, 'an invalid pattern is never guessed at');
});
