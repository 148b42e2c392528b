import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import t from 'tap';
import { reviewAdmission } from '../../../webhook/admission/review.ts';
import type { ReviewDeps } from '../../../webhook/admission/review.ts';
import { WATCHER, fixture, patchOf, tokenSource } from '../helpers.ts';
import type { Loose } from '../helpers.ts';

function deps(overrides: Partial<ReviewDeps> = {}): ReviewDeps {
  return { watcherUsernames: [WATCHER], randomToken: tokenSource(), ...overrides };
}

/** The object after the webhook's patch, as the API server would store it. */
function applied(review: Loose, response: Loose): Loose {
  const ops = patchOf(response) ?? [];
  return fjp.applyPatch(structuredClone(review.request.object), ops as Operation[], true, false).newDocument;
}

const TOKEN = 'image-watcher/token-update';
const CURRENT = 'image-watcher/current-version';

t.test('CREATE stamps current-version and a token and keeps the user annotations', (t) => {
  const review = fixture('deployment-create.json');
  const out = reviewAdmission(review, deps());
  t.equal(out.result, 'mutated');
  t.equal(out.kind, 'Deployment');
  t.equal(out.operation, 'CREATE');
  t.equal(out.response.response.uid, review.request.uid);
  t.equal(out.response.response.allowed, true);
  t.equal(out.response.response.patchType, 'JSONPatch');
  t.same(patchOf(out.response), [
    { op: 'add', path: '/metadata/annotations/image-watcher~1current-version', value: '1.4.2' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1token-update', value: 'tok1'.padEnd(43, 'x') },
  ]);
  t.end();
});

t.test('the stamp is idempotent: the patched object sent again yields no patch', (t) => {
  for (const name of [
    'deployment-create.json',
    'deployment-create-no-annotations.json',
    'cronjob-create.json',
  ]) {
    const review = fixture(name);
    const first = reviewAdmission(review, deps());
    t.equal(first.result, 'mutated', name);
    review.request.object = applied(review, first.response);
    const again = reviewAdmission(review, deps());
    t.equal(again.result, 'allowed', `${name} reinvoked`);
    t.equal(again.response.response.patch, undefined, `${name} reinvoked has no patch`);
  }
  t.end();
});

t.test('without metadata.annotations the whole map is added in one operation', (t) => {
  const review = fixture('deployment-create-no-annotations.json');
  const out = reviewAdmission(review, deps());
  t.same(patchOf(out.response), [
    {
      op: 'add',
      path: '/metadata/annotations',
      value: { [CURRENT]: '1.4.2', [TOKEN]: 'tok1'.padEnd(43, 'x') },
    },
  ]);
  t.end();
});

t.test('token-update is 32 random bytes from the injected source, never reused', (t) => {
  const review = fixture('deployment-create.json');
  const tokens = new Set<string>();
  const d = deps();
  for (let i = 0; i < 5; i++) {
    const value = patchOf(reviewAdmission(review, d).response)!.find((op) =>
      op.path.endsWith('token-update'),
    )!.value;
    tokens.add(String(value));
  }
  t.equal(tokens.size, 5);
  t.end();
});

t.test('current-version per kind and image shape', (t) => {
  const cases = [
    {
      name: 'a CronJob reads its pod spec under spec.jobTemplate and lists its containers by name',
      input: fixture('cronjob-create.json'),
      want: `migrate=sha256:${'ab'.repeat(32)},report=2.0.1-alpine`,
    },
    {
      name: 'a StatefulSet with image-watcher/containers records only the watched container',
      input: fixture('statefulset-create.json'),
      want: '16.3-bookworm',
    },
    {
      name: 'a DaemonSet with an untagged image records latest',
      input: fixture('daemonset-create.json'),
      want: 'latest',
    },
  ];
  for (const c of cases) {
    const out = reviewAdmission(c.input, deps());
    const op = patchOf(out.response)!.find(
      (o) => o.path === '/metadata/annotations/image-watcher~1current-version',
    );
    t.equal(op?.value, c.want, c.name);
  }
  t.end();
});

t.test('CREATE keeps a current-version and a well-formed token the requester already set', (t) => {
  const review = fixture('deployment-create.json');
  const token = 'A'.repeat(43);
  Object.assign(review.request.object.metadata.annotations, { [CURRENT]: '1.4.0', [TOKEN]: token });
  const out = reviewAdmission(review, deps());
  t.equal(out.result, 'allowed');
  t.equal(out.response.response.patch, undefined);
  t.end();
});

t.test('CREATE drops a rollout record (restored or forged) and says so; history is kept', (t) => {
  const review = fixture('deployment-create.json');
  const record = JSON.stringify({ deadline: '2026-01-01T00:00:00Z', changes: [] });
  Object.assign(review.request.object.metadata.annotations, {
    'image-watcher/rollout': record,
    'image-watcher/last-updated': '2025-12-31T23:59:00Z',
  });
  const out = reviewAdmission(review, deps());
  t.equal(out.result, 'mutated');
  t.equal(out.response.response.allowed, true);
  t.same(out.response.response.warnings, [
    'image-watcher removed image-watcher/rollout: a new object has no update in progress',
  ]);
  const after = applied(review, out.response).metadata.annotations;
  t.equal(after['image-watcher/rollout'], undefined, 'record removed');
  t.equal(after['image-watcher/last-updated'], '2025-12-31T23:59:00Z', 'history kept');
  t.ok(after[TOKEN], 'still stamped');
  t.ok(
    patchOf(out.response)!.some(
      (op) => op.op === 'remove' && op.path === '/metadata/annotations/image-watcher~1rollout',
    ),
    'a remove op with the escaped key',
  );
  t.end();
});

t.test('CREATE replaces a weak token with a random one and says so', (t) => {
  const review = fixture('deployment-create.json');
  review.request.object.metadata.annotations[TOKEN] = 'secret';
  const out = reviewAdmission(review, deps());
  t.same(
    patchOf(out.response)!.find((o) => o.path.endsWith('token-update')),
    {
      op: 'replace',
      path: '/metadata/annotations/image-watcher~1token-update',
      value: 'tok1'.padEnd(43, 'x'),
    },
  );
  t.match(out.response.response.warnings, [/replaced image-watcher\/token-update/]);
  t.notMatch(JSON.stringify(out.response.response.warnings), /secret/, 'the old value is not echoed');
  t.end();
});

t.test('an unreadable image is skipped with a warning, the request still allowed', (t) => {
  const review = fixture('deployment-create.json');
  review.request.object.spec.template.spec.containers[0].image = 'UPPER/Case:!!';
  const out = reviewAdmission(review, deps());
  t.equal(out.response.response.allowed, true);
  t.equal(out.result, 'mutated');
  t.notOk(
    patchOf(out.response)!.some((o) => o.path.endsWith('current-version')),
    'no current-version',
  );
  t.match(out.response.response.warnings, [/cannot watch container web/]);
  t.end();
});

t.test('invalid annotations are denied with every problem in one message', (t) => {
  const review = fixture('deployment-create-invalid.json');
  const out = reviewAdmission(review, deps());
  t.equal(out.result, 'denied');
  t.equal(out.response.response.allowed, false);
  t.equal(out.response.response.patch, undefined);
  t.equal(out.response.response.status?.code, 400);
  const message = out.response.response.status?.message ?? '';
  t.match(message, /^5 invalid image-watcher annotations/);
  t.match(
    message,
    /image-watcher\/strategie \(value "[^"]*"\) is not a known image-watcher annotation; did you mean image-watcher\/strategy/,
  );
  t.match(
    message,
    /image-watcher\/mode: "SOMETIMES" is not a valid mode; allowed: AUTO_UPDATE, NOTIFICATION, DISABLED/,
  );
  t.match(
    message,
    /image-watcher\/release-url: "ftp:\/\/example.com\/\$\{tag\}" is not an absolute http\(s\) URL/,
  );
  t.match(message, /image-watcher\/include: "\(a\+\)\\\\1" is not allowed: backreferences/);
  t.match(message, /image-watcher\/containers: .*sidecar.*existing: web/);
  t.match(out.reason, /invalid annotations/);
  t.end();
});

t.test('each rule denies on its own, on CREATE and on UPDATE', (t) => {
  const cases = [
    { name: 'an unknown key', input: { 'image-watcher/moed': 'AUTO_UPDATE' }, want: /image-watcher\/moed/ },
    {
      name: 'a bad strategy',
      input: { 'image-watcher/strategy': 'NEWEST' },
      want: /ALL, MAJOR, MINOR, PATCH/,
    },
    {
      name: 'a release URL that is not a URL',
      input: { 'image-watcher/release-url': 'not a url' },
      want: /http\(s\) URL/,
    },
    { name: 'an include that is not a regex', input: { 'image-watcher/include': '([' }, want: /include/ },
    {
      name: 'an exclude RE2 cannot express',
      input: { 'image-watcher/exclude': '(?!x)' },
      want: /exclude.*lookahead/,
    },
    {
      name: 'a container that does not exist',
      input: { 'image-watcher/containers': 'api' },
      want: /api.*existing: web/,
    },
  ];
  for (const c of cases) {
    for (const name of ['deployment-create.json', 'deployment-update-tampered.json']) {
      const review = fixture(name);
      Object.assign(review.request.object.metadata.annotations, c.input);
      const out = reviewAdmission(review, deps());
      t.equal(out.result, 'denied', `${c.name} (${review.request.operation})`);
      t.match(
        out.response.response.status?.message,
        c.want,
        `${c.name} (${review.request.operation}) message`,
      );
    }
  }
  t.end();
});

t.test('mode and strategy are matched case-insensitively', (t) => {
  const review = fixture('deployment-create.json');
  Object.assign(review.request.object.metadata.annotations, {
    'image-watcher/mode': 'auto_update',
    'image-watcher/strategy': 'Patch',
  });
  t.equal(reviewAdmission(review, deps()).result, 'mutated');
  t.end();
});

t.test('UPDATE by a user restores changed and removed managed annotations and drops added ones', (t) => {
  const review = fixture('deployment-update-tampered.json');
  const out = reviewAdmission(review, deps());
  t.equal(out.result, 'mutated');
  t.equal(out.response.response.allowed, true);
  const after = applied(review, out.response).metadata.annotations;
  t.same(after, review.request.oldObject.metadata.annotations, 'managed annotations are those of oldObject');
  t.same(out.response.response.warnings, [
    'image-watcher removed managed annotation image-watcher/last-updated (managed by the watcher)',
    'image-watcher restored managed annotation image-watcher/current-version (managed by the watcher)',
    'image-watcher restored managed annotation image-watcher/token-update (managed by the watcher)',
  ]);
  // The restored object sent again (reinvocation) changes nothing more.
  review.request.object = applied(review, out.response);
  const again = reviewAdmission(review, deps());
  t.equal(again.result, 'allowed');
  t.equal(again.response.response.warnings, undefined);
  t.end();
});

t.test('UPDATE by a user may change user annotations and the image', (t) => {
  const review = fixture('deployment-update-tampered.json');
  review.request.object.metadata.annotations = {
    ...review.request.oldObject.metadata.annotations,
    'image-watcher/strategy': 'PATCH',
  };
  review.request.object.spec.template.spec.containers[0].image = 'ghcr.io/acme/web:1.4.3';
  const out = reviewAdmission(review, deps());
  t.equal(out.result, 'allowed');
  t.equal(out.response.response.patch, undefined, "current-version stays the watcher's to update");
  t.end();
});

t.test("the watcher's own UPDATE passes through unchanged, even with other names configured", (t) => {
  const review = fixture('deployment-update-by-watcher.json');
  const out = reviewAdmission(
    review,
    deps({ watcherUsernames: ['system:serviceaccount:other:sa', WATCHER] }),
  );
  t.equal(out.result, 'allowed');
  t.equal(out.reason, 'update by the watcher');
  t.same(out.response.response, { uid: review.request.uid, allowed: true });
  t.end();
});

t.test('the same UPDATE by someone else is reverted', (t) => {
  const review = fixture('deployment-update-by-watcher.json');
  review.request.userInfo = { username: 'system:serviceaccount:image-watcher:impostor', groups: [] };
  const out = reviewAdmission(review, deps());
  t.equal(out.result, 'mutated');
  t.equal(out.response.response.warnings?.length, 4);
  t.end();
});

t.test('UPDATE of a workload created before the webhook stamps what oldObject lacks', (t) => {
  const review = fixture('deployment-update-tampered.json');
  const oldAnnotations = review.request.oldObject.metadata.annotations;
  delete oldAnnotations[TOKEN];
  delete oldAnnotations[CURRENT];
  review.request.object.metadata.annotations = { ...oldAnnotations };
  const out = reviewAdmission(review, deps());
  t.same(patchOf(out.response), [
    { op: 'add', path: '/metadata/annotations/image-watcher~1current-version', value: '1.4.2' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1token-update', value: 'tok1'.padEnd(43, 'x') },
  ]);
  review.request.object = applied(review, out.response);
  t.equal(reviewAdmission(review, deps()).result, 'allowed', 'idempotent on reinvocation');
  t.end();
});

t.test('dryRun requests get the same answer', (t) => {
  for (const name of [
    'deployment-create.json',
    'deployment-create-invalid.json',
    'deployment-update-tampered.json',
  ]) {
    const review = fixture(name);
    const wet = reviewAdmission(review, deps());
    review.request.dryRun = true;
    const dry = reviewAdmission(review, deps());
    t.same(dry, wet, name);
  }
  t.end();
});

t.test('requests the webhook does not handle are allowed unchanged', (t) => {
  const subresource = fixture('deployment-update-tampered.json');
  subresource.request.subResource = 'status';
  const connect = fixture('deployment-create.json');
  connect.request.operation = 'CONNECT';
  const beta = fixture('deployment-create.json');
  beta.request.kind = { group: 'apps', version: 'v1beta1', kind: 'Deployment' };
  const malformed = fixture('deployment-create.json');
  malformed.request.object.metadata.annotations = { 'image-watcher/mode': 7 };
  const cases = [
    {
      name: 'a ConfigMap, whatever its annotations',
      input: fixture('configmap-create.json'),
      want: 'kind not handled',
    },
    { name: 'a DELETE', input: fixture('deployment-delete.json'), want: 'operation not reviewed' },
    { name: 'a CONNECT', input: connect, want: 'operation not reviewed' },
    { name: 'a status subresource update', input: subresource, want: 'subresource not handled' },
    { name: 'another API version', input: beta, want: 'kind not handled' },
    { name: 'an object with non-string annotations', input: malformed, want: /malformed/ },
  ];
  for (const c of cases) {
    const out = reviewAdmission(c.input, deps());
    t.same(out.response.response, { uid: c.input.request.uid, allowed: true }, c.name);
    t.equal(out.result, 'allowed', c.name);
    t.match(out.reason, c.want, `${c.name}: reason`);
  }
  t.end();
});

t.test('an internal error allows the request with a warning and result error', (t) => {
  const review = fixture('deployment-create.json');
  const boom = new Error('entropy ran out');
  const out = reviewAdmission(
    review,
    deps({
      randomToken: () => {
        throw boom;
      },
    }),
  );
  t.equal(out.result, 'error');
  t.equal(out.error, boom);
  t.same(out.response.response, {
    uid: review.request.uid,
    allowed: true,
    warnings: ['image-watcher could not review this request (internal error); it was allowed unchanged'],
  });
  t.end();
});

t.test('UPDATE without a readable oldObject keeps the managed annotations the object carries', (t) => {
  for (const oldObject of [undefined, null, 'garbage', { metadata: { annotations: { a: 1 } } }]) {
    const review = fixture('deployment-update-tampered.json');
    const annotations = { ...review.request.oldObject.metadata.annotations };
    review.request.object.metadata.annotations = { ...annotations };
    review.request.object.spec.template.spec.containers[0].image = 'ghcr.io/acme/web:9.9.9';
    if (oldObject === undefined) delete review.request.oldObject;
    else review.request.oldObject = oldObject;
    const out = reviewAdmission(review, deps());
    t.equal(out.response.response.allowed, true, JSON.stringify(oldObject) ?? 'no oldObject');
    t.same(applied(review, out.response).metadata.annotations, annotations, 'nothing stripped or moved');
    t.equal(out.response.response.warnings, undefined);
  }
  t.end();
});
