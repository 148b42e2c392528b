import { Agent } from 'node:https';
import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import t from 'tap';
import { fixture, get, patchOf, post, startTestWebhook } from './helpers.ts';
import type { Loose } from './helpers.ts';

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed and index. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.WEBHOOK_FUZZ_SEED ?? 20261123);
const RUNS = 1000;
const BASES = [
  'deployment-create.json',
  'deployment-create-invalid.json',
  'deployment-create-no-annotations.json',
  'deployment-update-tampered.json',
  'deployment-update-by-watcher.json',
  'deployment-delete.json',
  'cronjob-create.json',
  'statefulset-create.json',
  'daemonset-create.json',
  'configmap-create.json',
].map((name) => JSON.stringify(fixture(name)));

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function paths(
  value: Json,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  }
  return out;
}

const show = (v: Json): string => (typeof v === 'string' ? v : JSON.stringify(v));

function mutate(review: Json, rand: () => number): { body: string; what: string } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const values: Json[] = [
    null,
    true,
    0,
    -1,
    1e308,
    '',
    'CREATE',
    'UPDATE',
    'x'.repeat(5000),
    '\u0000\ud83d\ude00',
    [],
    {},
    [1, 'a'],
    { group: 'apps', version: 'v1', kind: 'Deployment' },
    'image-watcher/mode',
    'AUTO_UPDATE',
    '(a+)+$',
    'nginx@sha256:' + 'a'.repeat(64),
    'UPPER/Case:!!',
    { 'image-watcher/token-update': 7 },
  ];
  const annotationKeys = [
    'image-watcher/mode',
    'image-watcher/containers',
    'image-watcher/include',
    'image-watcher/current-version',
    'image-watcher/token-update',
    'image-watcher/strategie',
    '__proto__',
    'a/b~c',
  ];
  const edits: string[] = [];
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const all = paths(review).filter((p) => p.length > 0);
    const path = pick(all);
    let parent: Loose = review;
    for (const step of path.slice(0, -1)) parent = parent[step];
    const key = path[path.length - 1]!;
    const action = rand();
    if (action < 0.3) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      edits.push(`delete ${path.join('.')}`);
    } else if (action < 0.7) {
      parent[key] = structuredClone(pick(values));
      edits.push(`set ${path.join('.')}`);
    } else if (action < 0.85) {
      const current = parent[key];
      parent[key] =
        typeof current === 'string'
          ? Number(current.length)
          : typeof current === 'number'
            ? String(current)
            : [current];
      edits.push(`retype ${path.join('.')}`);
    } else {
      const object = (review as Loose)?.request?.object;
      if (object?.metadata && typeof object.metadata === 'object') {
        object.metadata.annotations ??= {};
        if (typeof object.metadata.annotations === 'object' && object.metadata.annotations !== null) {
          object.metadata.annotations[pick(annotationKeys)] = show(pick(values));
        }
      }
      edits.push('annotate');
    }
  }
  let body = JSON.stringify(review);
  if (rand() < 0.05) {
    body = body.slice(0, Math.floor(rand() * body.length));
    edits.push('truncate');
  }
  return { body, what: edits.join(', ') };
}

t.test(`${RUNS} random mutations of valid reviews never crash the webhook (seed ${SEED})`, async (t) => {
  const hook = await startTestWebhook(t);
  const agent = new Agent({ ca: hook.ca, keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const rand = prng(SEED);
  const counts = { answered: 0, badRequest: 0, patched: 0, denied: 0 };
  const failures: string[] = [];

  // Cases are drawn in order from the seed, then sent by 4 concurrent clients.
  const cases = Array.from({ length: RUNS }, (_, i) => {
    const review = JSON.parse(BASES[i % BASES.length]!) as Json;
    return { review, ...mutate(review, rand) };
  });
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < RUNS; i = next++) await check(i);
  };
  const check = async (i: number): Promise<void> => {
    const { review, body, what } = cases[i]!;
    const res = await post(hook.url, hook.ca, body, { agent });
    const fail = (why: string) => failures.push(`#${i} (${what}): ${why}: ${res.text.slice(0, 200)}`);
    if (res.status === 400) {
      counts.badRequest++;
      if (typeof res.json?.error !== 'string' || typeof res.json?.message !== 'string')
        fail('400 without JSON error');
      return;
    }
    if (res.status !== 200) {
      fail(`HTTP ${res.status}`);
      return;
    }
    counts.answered++;
    const r = res.json?.response as
      | {
          uid?: unknown;
          allowed?: unknown;
          warnings?: string[];
          status?: { message?: unknown };
          patch?: unknown;
        }
      | undefined;
    if (res.json?.apiVersion !== 'admission.k8s.io/v1' || res.json?.kind !== 'AdmissionReview')
      fail('not a review');
    if (r?.uid !== (review as Loose).request.uid) fail('uid not echoed');
    if (typeof r?.allowed !== 'boolean') fail('no allowed');
    if (r?.warnings?.some((w: string) => w.includes('internal error'))) fail('internal error');
    if (r?.allowed === false) {
      counts.denied++;
      if (typeof r.status?.message !== 'string' || r.status.message === '') fail('denial without message');
    }
    if (r?.patch !== undefined) {
      counts.patched++;
      const ops = patchOf(res.json)!;
      if (!ops.every((op) => op.path.startsWith('/metadata'))) fail('patch outside metadata');
      try {
        const after = fjp.applyPatch(
          structuredClone((review as Loose).request.object),
          ops as Operation[],
          true,
          false,
        ).newDocument;
        const annotations = after.metadata.annotations;
        if (!Object.values(annotations).every((v) => typeof v === 'string')) fail('non-string annotation');
      } catch (err) {
        fail(`patch does not apply: ${String(err)}`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  t.same(failures, [], 'every answer well-formed');
  t.equal(counts.answered + counts.badRequest, RUNS);
  t.ok(
    counts.patched > 50 && counts.denied > 20 && counts.badRequest > 20,
    `a varied mix: ${JSON.stringify(counts)}`,
  );
  t.equal((await get(`${hook.httpUrl}/healthz`)).status, 200, 'alive afterwards');
});
