import { Agent } from 'node:https';
import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import t from 'tap';
import { BODY_LIMIT, buildWebhookApp } from '../../webhook/app.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import {
  WATCHER,
  fixture,
  get,
  patchOf,
  post,
  quietLogger,
  startTestWebhook,
  tokenSource,
} from './helpers.ts';
import type { Loose } from './helpers.ts';

t.test('over HTTPS, every fixture gets the answer its scenario expects', async (t) => {
  const hook = await startTestWebhook(t);
  const cases = [
    { name: 'a valid Deployment CREATE is stamped', input: 'deployment-create.json', want: 'mutated' },
    {
      name: 'a Deployment without annotations is stamped',
      input: 'deployment-create-no-annotations.json',
      want: 'mutated',
    },
    { name: 'a CronJob CREATE is stamped', input: 'cronjob-create.json', want: 'mutated' },
    { name: 'a StatefulSet CREATE is stamped', input: 'statefulset-create.json', want: 'mutated' },
    { name: 'a DaemonSet CREATE is stamped', input: 'daemonset-create.json', want: 'mutated' },
    { name: 'invalid annotations are denied', input: 'deployment-create-invalid.json', want: 'denied' },
    {
      name: 'a user tampering with managed annotations is reverted',
      input: 'deployment-update-tampered.json',
      want: 'mutated',
    },
    { name: "the watcher's update passes", input: 'deployment-update-by-watcher.json', want: 'allowed' },
    { name: 'a DELETE is allowed unchanged', input: 'deployment-delete.json', want: 'allowed' },
    { name: 'a ConfigMap is allowed unchanged', input: 'configmap-create.json', want: 'allowed' },
  ];
  for (const c of cases) {
    const review = fixture(c.input);
    const res = await post(hook.url, hook.ca, review);
    t.equal(res.status, 200, `${c.name}: HTTP 200`);
    t.equal(res.json.apiVersion, 'admission.k8s.io/v1', c.name);
    t.equal(res.json.kind, 'AdmissionReview', c.name);
    t.equal(res.json.response.uid, review.request.uid, `${c.name}: uid echoed`);
    t.equal(res.json.response.allowed, c.want !== 'denied', `${c.name}: allowed`);
    t.equal(patchOf(res.json) !== undefined, c.want === 'mutated', `${c.name}: patch present`);
    if (c.want === 'mutated') t.equal(res.json.response.patchType, 'JSONPatch', c.name);
  }
  const metrics = await get(`${hook.httpUrl}/metrics`);
  t.match(
    metrics.text,
    'image_watcher_admission_requests_total{operation="CREATE",kind="Deployment",result="mutated"} 2',
  );
  t.match(
    metrics.text,
    'image_watcher_admission_requests_total{operation="CREATE",kind="Deployment",result="denied"} 1',
  );
  t.match(
    metrics.text,
    'image_watcher_admission_requests_total{operation="UPDATE",kind="Deployment",result="allowed"} 1',
  );
  t.match(
    metrics.text,
    'image_watcher_admission_requests_total{operation="DELETE",kind="Deployment",result="allowed"} 1',
  );
  t.match(
    metrics.text,
    'image_watcher_admission_requests_total{operation="CREATE",kind="other",result="allowed"} 1',
  );
  t.match(metrics.text, 'image_watcher_admission_duration_seconds_count 10');
});

t.test('the patch applies to the object and the patched object comes back unchanged', async (t) => {
  const hook = await startTestWebhook(t);
  const review = fixture('deployment-create.json');
  const first = await post(hook.url, hook.ca, review);
  review.request.object = fjp.applyPatch(
    review.request.object,
    patchOf(first.json)! as Operation[],
    true,
    false,
  ).newDocument;
  t.equal(review.request.object.metadata.annotations['image-watcher/current-version'], '1.4.2');
  t.match(review.request.object.metadata.annotations['image-watcher/token-update'], /^[A-Za-z0-9_-]{43}$/);
  const again = await post(hook.url, hook.ca, review);
  t.same(again.json.response, { uid: review.request.uid, allowed: true });
});

t.test('a denial names key, value and what is allowed', async (t) => {
  const hook = await startTestWebhook(t);
  const res = await post(hook.url, hook.ca, fixture('deployment-create-invalid.json'));
  t.equal(res.json.response.allowed, false);
  t.equal(res.json.response.status.code, 400);
  t.match(
    res.json.response.status.message,
    /image-watcher\/mode: "SOMETIMES" is not a valid mode; allowed: AUTO_UPDATE/,
  );
});

t.test('a UTF-8 body is decoded as UTF-8: the denial quotes a non-ASCII value intact', async (t) => {
  const hook = await startTestWebhook(t);
  const review = fixture('deployment-create.json');
  review.request.object.metadata.annotations['image-watcher/mode'] = 'NOTIFICATIÖN ☕';
  review.request.object.metadata.annotations.description = 'café, 東京';
  const res = await post(hook.url, hook.ca, Buffer.from(JSON.stringify(review), 'utf8'));
  t.equal(res.status, 200);
  t.equal(res.json.response.allowed, false);
  t.match(res.json.response.status.message, 'image-watcher/mode: "NOTIFICATIÖN ☕" is not a valid mode');
});

t.test(
  'bodies that are not AdmissionReviews get 400 with a JSON error, and the server lives on',
  async (t) => {
    const hook = await startTestWebhook(t);
    const noUid = fixture('deployment-create.json');
    delete noUid.request.uid;
    const v1beta1 = fixture('deployment-create.json');
    v1beta1.apiVersion = 'admission.k8s.io/v1beta1';
    const cases: { name: string; input: string; headers: Record<string, string>; want: RegExp }[] = [
      { name: 'not JSON', input: '{"apiVersion": ', headers: {}, want: /not valid JSON/ },
      { name: 'an empty body', input: '', headers: {}, want: /not valid JSON/ },
      {
        name: 'text/plain garbage',
        input: '\u0000\u0001garbage',
        headers: { 'content-type': 'text/plain' },
        want: /not valid JSON/,
      },
      { name: 'a JSON array', input: '[1,2]', headers: {}, want: /JSON object/ },
      { name: 'JSON null', input: 'null', headers: {}, want: /JSON object/ },
      {
        name: 'a v1beta1 review',
        input: JSON.stringify(v1beta1),
        headers: {},
        want: /admissionReviewVersions/,
      },
      {
        name: 'a review without request',
        input: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}',
        headers: {},
        want: /no "request"/,
      },
      { name: 'a request without uid', input: JSON.stringify(noUid), headers: {}, want: /no "uid"/ },
    ];
    for (const c of cases) {
      const res = await post(hook.url, hook.ca, c.input, { headers: c.headers });
      t.equal(res.status, 400, `${c.name}: 400`);
      t.equal(res.json?.error, 'Bad Request', `${c.name}: JSON error`);
      t.match(res.json?.message, c.want, `${c.name}: message`);
    }
    const ok = await post(hook.url, hook.ca, fixture('deployment-create.json'));
    t.equal(ok.status, 200, 'still serving');
    const metrics = await get(`${hook.httpUrl}/metrics`);
    t.match(
      metrics.text,
      'image_watcher_admission_requests_total{operation="UNKNOWN",kind="other",result="error"} 5',
    );
  },
);

t.test(
  'prototype keys in a body are removed, escaped or not, and never reach Object.prototype',
  async (t) => {
    const hook = await startTestWebhook(t);
    const base = JSON.stringify(fixture('deployment-create.json'));
    const cases = [
      { name: 'a plain __proto__ key', poison: '"__proto__":{"polluted":"yes"},' },
      { name: 'an escaped __proto__ key', poison: '"\\u005f_proto__":{"polluted":"yes"},' },
      { name: 'a constructor.prototype key', poison: '"constructor":{"prototype":{"polluted":"yes"}},' },
    ];
    for (const c of cases) {
      // Inside the object's metadata, where the review reads annotations from.
      const body = base.replace('"metadata":{', `"metadata":{${c.poison}`);
      t.not(body, base, `${c.name}: poison inserted`);
      const res = await post(hook.url, hook.ca, body);
      t.equal(res.status, 200, `${c.name}: answered`);
      t.equal(res.json.response.allowed, true, `${c.name}: reviewed as usual`);
      t.ok(patchOf(res.json), `${c.name}: stamped as usual`);
      t.equal(({} as Record<string, unknown>).polluted, undefined, `${c.name}: no pollution`);
    }
    // \u escapes elsewhere (Go's encoder writes & as \u0026) take the safe path and parse the same.
    const escaped = base.replace('"metadata":{', '"metadata":{"labels":{"q":"a\\u0026b"},');
    const res = await post(hook.url, hook.ca, escaped);
    t.equal(res.status, 200);
    t.ok(patchOf(res.json), 'a body with \\u escapes is stamped');
  },
);

/** A valid review padded with a large ConfigMap-like env value to exactly `size` bytes. */
function reviewOfSize(size: number): string {
  const review = fixture('deployment-create.json');
  review.request.object.spec.template.spec.containers[0].env = [{ name: 'BLOB', value: '' }];
  const base = JSON.stringify(review).length;
  review.request.object.spec.template.spec.containers[0].env[0].value = 'x'.repeat(size - base);
  const text = JSON.stringify(review);
  if (text.length !== size) throw new Error(`built ${text.length} bytes, wanted ${size}`);
  return text;
}

t.test('a review of exactly 7 MiB is answered; one byte more gets 413', async (t) => {
  const hook = await startTestWebhook(t);
  const atLimit = await post(hook.url, hook.ca, reviewOfSize(BODY_LIMIT));
  t.equal(atLimit.status, 200);
  t.equal(atLimit.json.response.allowed, true);
  t.ok(patchOf(atLimit.json), 'stamped');
  const over = await post(hook.url, hook.ca, reviewOfSize(BODY_LIMIT + 1));
  t.equal(over.status, 413);
  t.equal(over.json.error, 'Payload Too Large');
  t.match(over.json.message, /7 MiB/);
});

t.test('an internal error answers allowed with a warning, counted as error, never a 500', async (t) => {
  const hook = await startTestWebhook(t, {
    review: {
      watcherUsernames: [WATCHER],
      randomToken: () => {
        throw new Error('no entropy');
      },
    },
  });
  const review = fixture('deployment-create.json');
  const res = await post(hook.url, hook.ca, review);
  t.equal(res.status, 200);
  t.same(res.json.response, {
    uid: review.request.uid,
    allowed: true,
    warnings: ['image-watcher could not review this request (internal error); it was allowed unchanged'],
  });
  const metrics = await get(`${hook.httpUrl}/metrics`);
  t.match(
    metrics.text,
    'image_watcher_admission_requests_total{operation="CREATE",kind="Deployment",result="error"} 1',
  );
});

t.test('a failure around the review (metrics) still answers allowed', async (t) => {
  const metrics = new WebhookMetrics({ defaultMetrics: false });
  metrics.observeAdmission = () => {
    throw new Error('registry broken');
  };
  const app = buildWebhookApp({
    logger: quietLogger(),
    metrics,
    review: { watcherUsernames: [WATCHER], randomToken: tokenSource() },
  });
  t.teardown(() => app.close());
  const review = fixture('deployment-create.json');
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review });
  t.equal(res.statusCode, 200);
  t.equal(res.json().response.allowed, true);
  t.match(res.json().response.warnings, [/internal error/]);
});

t.test('health, readiness and metrics on the plain HTTP port; health also over HTTPS', async (t) => {
  const hook = await startTestWebhook(t);
  t.equal((await get(`${hook.httpUrl}/healthz`)).status, 200);
  t.same((await get(`${hook.httpUrl}/readyz`)).json, { status: 'ready' });
  const metrics = await get(`${hook.httpUrl}/metrics`);
  t.equal(metrics.status, 200);
  t.match(metrics.headers['content-type'], /text\/plain/);
  t.match(metrics.text, '# TYPE image_watcher_admission_duration_seconds histogram');
  const agent = new Agent({ ca: hook.ca });
  t.teardown(() => agent.destroy());
  const res = await new Promise<number>((resolve, reject) => {
    import('node:https')
      .then(({ get: httpsGet }) =>
        httpsGet(`${hook.url}/healthz`, { agent }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        }).on('error', reject),
      )
      .catch(reject);
  });
  t.equal(res, 200);
  t.equal((await get(`${hook.httpUrl}/nope`)).status, 404);
});

t.test('close() turns readiness off, finishes an in-flight review and closes idle sockets', async (t) => {
  const hook = await startTestWebhook(t);
  const agent = new Agent({ ca: hook.ca, keepAlive: true });
  t.teardown(() => agent.destroy());
  // An idle keep-alive socket must not hold close() open.
  t.equal((await post(hook.url, hook.ca, fixture('deployment-create.json'), { agent })).status, 200);

  // An in-flight request: headers and half the body sent before close() starts.
  const { request } = await import('node:https');
  const body = Buffer.from(JSON.stringify(fixture('deployment-create.json')));
  const inFlight = new Promise<Loose>((resolve, reject) => {
    const req = request(
      `${hook.url}/mutate`,
      {
        method: 'POST',
        ca: hook.ca,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, 100));
    setTimeout(() => req.end(body.subarray(100)), 300);
  });
  await new Promise((r) => setTimeout(r, 100));
  const closed = hook.running.close();
  const readyz = await get(`${hook.httpUrl}/readyz`).catch(() => ({ status: 0 }));
  t.not(readyz.status, 200, 'not ready while shutting down');
  const res = await inFlight;
  t.equal(res.status, 200, 'the in-flight review was answered');
  t.equal(res.json.response.allowed, true);
  await closed;
  await t.rejects(post(hook.url, hook.ca, fixture('deployment-create.json')), 'no longer accepting');
});

t.test('image-watcher/scope: the webhook validates the value only', async (t) => {
  const hook = await startTestWebhook(t);
  const review = (scope: string): object => {
    const r: { request: { object: { metadata: { annotations?: Record<string, string> } } } } =
      fixture('deployment-create.json');
    (r.request.object.metadata.annotations ??= {})['image-watcher/scope'] = scope;
    return r;
  };
  const ok = await post(hook.url, hook.ca, review('team-a'));
  t.equal(ok.json.response.allowed, true, 'any valid scope is admitted, whatever this installation is');
  const bad = await post(hook.url, hook.ca, review('team a!'));
  t.equal(bad.json.response.allowed, false);
  t.match(
    bad.json.response.status.message,
    /image-watcher\/scope: "team a!" is not a scope name \(at most 63/,
  );
});

t.test('the GitOps annotations are validated at admission, through the real server', async (t) => {
  const app = buildWebhookApp({
    logger: quietLogger(),
    metrics: new WebhookMetrics({ defaultMetrics: false }),
    review: { watcherUsernames: [WATCHER], randomToken: tokenSource() },
  });
  t.teardown(() => app.close());
  const send = async (annotations: Record<string, string>) => {
    const review = fixture('deployment-create.json');
    review.request.object.metadata.annotations = {
      ...review.request.object.metadata.annotations,
      ...annotations,
    };
    const res = await app.inject({ method: 'POST', url: '/mutate', payload: review });
    return res.json<{ response: { allowed: boolean; status?: { message?: string } } }>().response;
  };
  const ok = await send({
    'image-watcher/write-back': 'git',
    'image-watcher/git-repo': 'git@github.com:org/deploy.git',
    'image-watcher/git-path': 'apps/shop',
    'image-watcher/git-push': 'pull-request',
  });
  t.equal(ok.allowed, true);
  const denied = await send({
    'image-watcher/git-repo': 'https://user:hunter2@github.com/org/deploy.git',
    'image-watcher/git-path': '../../etc',
    'image-watcher/git-push': 'force',
  });
  t.equal(denied.allowed, false);
  const message = denied.status?.message ?? '';
  t.match(message, /^3 invalid image-watcher annotations/);
  t.match(
    message,
    /image-watcher\/git-repo: "https:\/\/\*\*\*@github.com\/org\/deploy.git" must not contain credentials/,
  );
  t.notMatch(message, /hunter2/, 'the password is not echoed');
  t.match(message, /image-watcher\/git-path: .* relative path inside the repository/);
  t.match(
    message,
    /image-watcher\/git-push: "force" is not a valid git-push; allowed: direct, branch, pull-request/,
  );
});
