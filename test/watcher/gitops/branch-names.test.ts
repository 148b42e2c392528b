// Request and per-update branch names (writeback.ts pushBranch, fallbackBranch, legacyBranch):
// no two workloads, and no workload's fallback and another's regular branch, ever share one;
// every name is a valid branch for the real git (check-ref-format, and created side by side in
// one repository: no ref is a file where another needs a folder, no component too long on disk).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import {
  commitMessage,
  fallbackBranch,
  legacyBranch,
  legacyRequests,
  pushBranch,
  siblingBranches,
  supersededBy,
} from '../../../watcher/gitops/writeback.ts';
import type { WriteBackRequest } from '../../../watcher/gitops/writeback.ts';
import type { GitPush } from '../../../shared/annotations.ts';
import { git, GIT_BIN, GIT_ENV } from '../../support/git-server.ts';

type W = { kind?: string; namespace: string; name: string; versions?: string[] };

function req(w: W, push: GitPush): WriteBackRequest {
  return {
    kind: 'update',
    workload: { kind: w.kind ?? 'Deployment', namespace: w.namespace, name: w.name },
    target: { repo: 'https://git.example/deploy.git', branch: undefined, path: '.', push, secret: undefined },
    changes: (w.versions ?? ['1.3.0']).map((v, i) => ({
      container: `c${i}`,
      image: `registry.local/app:1.0.0`,
      currentVersion: '1.0.0',
      newVersion: v,
      change: 'minor' as const,
    })),
  };
}

const pr = (w: W) => pushBranch([req(w, 'pull-request')], 'main');
const perUpdate = (ws: W[]) =>
  pushBranch(
    ws.map((w) => req(w, 'branch')),
    'main',
  );

const long = (c: string, n: number) => c.repeat(n);
/** A DNS-1123 subdomain of exactly 253 characters: labels of 63 joined by dots, then `tail`. */
const name253 = (tail: string) =>
  `${long('a', 63)}.${long('b', 63)}.${long('c', 63)}.${long('d', 61 - tail.length)}${tail}`;

const tricky: W[] = [
  { namespace: 'shop', name: 'web-x' },
  { namespace: 'shop-web', name: 'x' },
  { namespace: 'shop', name: 'web' },
  { namespace: 'shop', name: 'web-2' },
  { namespace: 'shop', name: 'web-3' },
  { namespace: 'shop-web', name: '2' },
  { namespace: 'shop', name: 'web.lock' },
  { namespace: 'shop', name: 'web.v1' },
  { namespace: 'shop', name: 'web.v1.lock' },
  { namespace: 'shop', name: 'a.b.c' },
  { namespace: 'shop', name: 'web', kind: 'StatefulSet' },
  { namespace: 'shop', name: 'web', kind: 'DaemonSet' },
  { namespace: 'shop', name: 'web', kind: 'CronJob' },
  { namespace: 'shop', name: 'web-statefulset' },
  { namespace: long('n', 63), name: 'web' },
  { namespace: `${long('n', 62)}1`, name: 'web' },
  { namespace: 'shop', name: long('w', 253) },
  { namespace: 'shop', name: `${long('w', 252)}1` },
  { namespace: 'shop', name: `${long('w', 81)}` },
  { namespace: 'shop', name: `${long('w', 80)}-a` },
  { namespace: 'shop', name: `${long('w', 80)}-b` },
  { namespace: 'shop', name: long('w', 200) },
  { namespace: 'shop', name: long('w', 201) },
  { namespace: 'shop', name: name253('') },
  { namespace: 'shop', name: name253('.lock') },
  { namespace: long('n', 63), name: name253('x') },
  // Not valid Kubernetes names (a test double, a future kind): still unique and valid refs.
  { namespace: 'Shop', name: 'Web_1' },
  { namespace: 'shop', name: 'Web' },
  { namespace: 'shop', name: '..hidden' },
  { namespace: 'shop', name: 'a b' },
  { namespace: 'shop', name: '.' },
  { namespace: 'shop', name: '' },
];

/** Every branch the watcher could push for the table: requests and their fallbacks, per update. */
function allBranches(): Map<string, string> {
  const names = new Map<string, string>();
  const add = (branch: string, what: string) => {
    const before = names.get(branch);
    if (before !== undefined) throw new Error(`${what} and ${before} share ${branch}`);
    names.set(branch, what);
  };
  for (const w of tricky) {
    const who = `${w.kind ?? 'Deployment'} ${w.namespace}/${w.name}`;
    for (let n = 1; n <= 10; n++) add(fallbackBranch(pr(w), n), `${who} request #${n}`);
    for (const versions of [
      ['1.3.0'],
      ['1..2'],
      ['v1.lock'],
      ['1.'],
      ['A_B'],
      [long('9', 128)],
      ['1.3.0', '2'],
    ]) {
      const b = perUpdate([{ ...w, versions }]);
      for (let n = 1; n <= 3; n++) add(fallbackBranch(b, n), `${who} update ${versions.join(',')} #${n}`);
    }
  }
  const batch = (ws: W[]) =>
    add(perUpdate(ws), `batch ${ws.map((w) => `${w.namespace}/${w.name}`).join(',')}`);
  batch([tricky[0]!, tricky[2]!]);
  batch([tricky[2]!, tricky[3]!]);
  batch([tricky[2]!, tricky[3]!, tricky[4]!]);
  batch([
    { namespace: 'shop', name: 'web', versions: ['1.3.0-2'] },
    { namespace: 'shop', name: 'api', versions: ['1.0.0'] },
  ]);
  batch([
    { namespace: 'shop', name: 'web', versions: ['1.3.0'] },
    { namespace: 'shop', name: 'api', versions: ['2-1.0.0'] },
  ]);
  return names;
}

t.test('the suggested shape for the common cases', (t) => {
  t.equal(pr({ namespace: 'shop', name: 'web-x' }), 'image-watcher/shop/web-x');
  t.equal(pr({ namespace: 'shop-web', name: 'x' }), 'image-watcher/shop-web/x');
  t.equal(pr({ namespace: 'shop', name: 'web.v1' }), 'image-watcher/shop/web.v1');
  t.equal(pr({ namespace: 'shop', name: 'web', kind: 'StatefulSet' }), 'image-watcher/shop/web_statefulset');
  t.equal(fallbackBranch('image-watcher/shop/web', 2), 'image-watcher/shop/web_2');
  t.match(pr({ namespace: 'shop', name: 'web.lock' }), /^image-watcher\/shop\/web\.lock_[0-9a-f]{16}$/);
  t.match(
    pr({ namespace: 'shop', name: long('w', 253) }),
    new RegExp(`^image-watcher/shop/${long('w', 100)}_[0-9a-f]{16}$`),
  );
  t.match(perUpdate([{ namespace: 'shop', name: 'web' }]), /^image-watcher\/shop\/web-1\.3\.0_[0-9a-f]{16}$/);
  t.equal(pushBranch([{ ...req({ namespace: 'shop', name: 'web' }, 'direct') }], 'main'), 'main');
  t.equal(
    pushBranch([{ ...req({ namespace: 'shop', name: 'web' }, 'pull-request'), kind: 'revert' }], 'prod'),
    'prod',
    'a revert lands on the base',
  );
  t.equal(
    perUpdate([{ namespace: 'shop', name: 'web' }]),
    perUpdate([{ namespace: 'shop', name: 'web' }]),
    'stable for a retry',
  );
  t.equal(
    perUpdate([
      { namespace: 'shop', name: 'web' },
      { namespace: 'shop', name: 'api' },
    ]),
    perUpdate([
      { namespace: 'shop', name: 'api' },
      { namespace: 'shop', name: 'web' },
    ]),
    'a batch names the set, whatever the order',
  );
  t.match(
    perUpdate([
      { namespace: 'shop', name: 'web' },
      { namespace: 'shop', name: 'api' },
    ]),
    /^image-watcher\/shop\/api-and-1-more_[0-9a-f]{16}$/,
  );
  t.end();
});

t.test('table: every branch distinct, within the on-disk bounds, valid for the real git', async (t) => {
  const names = allBranches();
  t.ok(names.size > 900, `${names.size} branches, all distinct`);
  // git writes `<component>.lock` beside a ref: that name must fit a file name (255 bytes).
  const bad = [...names.keys()].filter(
    (b) => !b.startsWith('image-watcher/') || b.split('/').some((c) => Buffer.byteLength(`${c}.lock`) > 255),
  );
  t.same(bad, [], 'under image-watcher/, every component short enough');
  t.equal(Math.max(...[...names.keys()].map((b) => b.length)) <= 270, true, 'whole names bounded too');
  const dir = await mkdtemp(join(tmpdir(), 'iw-branches-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await git(dir, 'init', '--quiet', '--initial-branch=main');
  await git(dir, 'commit', '--quiet', '--allow-empty', '-m', 'base');
  // One process for every name: the same checks `git check-ref-format` makes, and the files.
  const input = [...names.keys()].map((b) => `create refs/heads/${b} HEAD`).join('\n');
  execFileSync(GIT_BIN, ['update-ref', '--stdin'], { cwd: dir, env: GIT_ENV, input: `${input}\n` });
  const listed = (await git(dir, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/image-watcher/'))
    .trim()
    .split('\n');
  t.equal(listed.length, names.size, 'the real git holds every one side by side');
  // check-ref-format --branch against the real git, for the table's first branches.
  for (const w of tricky) {
    const b = pr(w);
    t.equal((await git(dir, 'check-ref-format', '--branch', b)).trim(), b, `check-ref-format ${b}`);
  }
});

t.test('property: Kubernetes names never share a request branch, fallbacks included', (t) => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
  const part = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
  const subdomain = fc
    .array(fc.oneof(part, fc.constant('lock'), fc.constant('w'.repeat(63))), { minLength: 1, maxLength: 6 })
    .map((ps) =>
      ps
        .join('.')
        .slice(0, 253)
        .replace(/[.-]+$/, ''),
    )
    .filter((s) => /^[a-z0-9]/.test(s) && s.length > 0);
  const kind = fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet', 'CronJob');
  const workload = fc.record({ kind, namespace: label, name: subdomain });
  fc.assert(
    fc.property(
      workload,
      workload,
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 1, max: 10 }),
      (a, b, m, n) => {
        const same = a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
        const x = fallbackBranch(pr(a), m);
        const y = fallbackBranch(pr(b), n);
        if (same) return (x === y) === (m === n);
        return x !== y && x.split('/').every((c) => Buffer.byteLength(c) <= 250);
      },
    ),
    { numRuns: 3000 },
  );
  t.end();
});

t.test('superseded: a fallback replaces its own branches, never another workload’s', (t) => {
  const web = pr({ namespace: 'shop', name: 'web' });
  t.same(supersededBy(web, fallbackBranch(web, 3)), [web, fallbackBranch(web, 2)]);
  t.same(supersededBy(web, pr({ namespace: 'shop', name: 'web-2' })), [], 'shop/web-2 is another workload');
  t.same(supersededBy(web, pr({ namespace: 'shop', name: 'web', kind: 'StatefulSet' })), []);
  // Every other branch of the workload is looked at; those it replaced are closed as such.
  const others = siblingBranches(web, web, []);
  t.same(
    others,
    Array.from({ length: 9 }, (_, i) => fallbackBranch(web, i + 2)),
    'the regular: its _2.._10',
  );
  const third = fallbackBranch(web, 3);
  t.notOk(siblingBranches(web, third, supersededBy(web, third)).some((b) => b === web || b === third));
  t.equal(siblingBranches(web, third, supersededBy(web, third)).length, 7);
  t.end();
});

t.test(
  'legacy names: exactly what the previous code made, closed only when the title names the workload',
  (t) => {
    t.equal(
      legacyBranch([req({ namespace: 'shop', name: 'web-x' }, 'pull-request')]),
      'image-watcher/shop-web-x',
    );
    t.equal(
      legacyBranch([req({ namespace: 'shop-web', name: 'x' }, 'pull-request')]),
      'image-watcher/shop-web-x',
    );
    t.equal(
      legacyBranch([req({ namespace: 'shop', name: 'web' }, 'branch')]),
      'image-watcher/shop-web-1.3.0',
    );
    t.equal(
      legacyBranch([req({ namespace: 'shop', name: long('w', 100) }, 'pull-request')]),
      `image-watcher/shop-${long('w', 75)}`,
      'cut at 80',
    );
    const legacy = legacyRequests([req({ namespace: 'shop', name: 'web' }, 'pull-request')]);
    t.same(legacy?.heads.slice(0, 3), [
      'image-watcher/shop-web',
      'image-watcher/shop-web-2',
      'image-watcher/shop-web-3',
    ]);
    t.equal(legacy?.heads.length, 10);
    t.equal(legacy?.titlePrefix, 'Update shop/web ');
    t.equal(legacy?.bodyLine, 'Deployment shop/web, container ');
    // What the watcher wrote as title and description (commitMessage) is what is matched.
    const names = (w: W) => {
      const message = commitMessage([req(w, 'pull-request')]);
      return (
        message.split('\n')[0]!.startsWith(legacy!.titlePrefix) &&
        message.split('\n').some((l) => l.startsWith(legacy!.bodyLine))
      );
    };
    t.ok(names({ namespace: 'shop', name: 'web' }), 'its own request');
    t.notOk(names({ namespace: 'shop', name: 'web-2' }), 'not shop/web-2’s');
    t.notOk(names({ namespace: 'shop', name: 'web', kind: 'StatefulSet' }), 'not the StatefulSet’s');
    t.notOk(names({ namespace: 'shop-web', name: 'x' }), 'not another namespace’s');
    t.equal(
      legacyRequests([req({ namespace: 'shop', name: 'web' }, 'branch')]),
      undefined,
      'no requests without pull-request',
    );
    t.end();
  },
);
