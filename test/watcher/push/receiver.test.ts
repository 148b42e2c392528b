// The receivers through the real fastify server (inject, and a real socket where the transport
// matters): every source refuses an unauthenticated call with a bare 401, GitHub's HMAC is
// checked on the exact bytes, replays change nothing, floods get 429, bodies over the cap 413.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import type { Test } from 'tap';
import { build } from '../../../watcher/http/app.ts';
import type { WorkloadSnapshot } from '../../../watcher/kube/types.ts';
import { WatcherMetrics } from '../../../watcher/metrics.ts';
import type { ReceiverOptions } from '../../../watcher/push/receiver.ts';
import { RECEIVER_BODY_LIMIT, buildReceiverApp, signatureMatches } from '../../../watcher/push/receiver.ts';
import type { Source } from '../../../watcher/push/sources.ts';
import { SOURCES, SOURCE_AUTH } from '../../../watcher/push/sources.ts';
import { PushTrigger } from '../../../watcher/push/trigger.ts';
import { ManualClock } from '../../support/clock.ts';

const TOKEN = 'hook-token-0123456789abcdef';
const D = 'sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b';

const FIXTURE: Record<Source, string> = {
  distribution: 'distribution',
  gitlab: 'gitlab',
  acr: 'acr',
  dockerhub: 'dockerhub',
  harbor: 'harbor',
  quay: 'quay',
  github: 'github',
  cloudevents: 'cloudevents-ecr',
};
function body(source: Source): string {
  return readFileSync(
    new URL(`../../fixtures/registry-events/${FIXTURE[source]}.json`, import.meta.url),
    'utf8',
  );
}

/** Every fixture's repository is watched; the registry lists every fixture tag with digest D. */
async function receiver(
  t: Test,
  over: Partial<ReceiverOptions> & { leader?: boolean; logger?: pino.Logger } = {},
) {
  const clock = new ManualClock();
  const metrics = new WatcherMetrics({ defaultMetrics: false });
  const applied: string[] = [];
  const lists: string[] = [];
  const trigger = new PushTrigger({
    targets: {
      workloadsUsing: () => [{ name: 'w' } as WorkloadSnapshot],
      applyTags: (repo) => {
        applied.push(repo);
        return 1;
      },
    },
    registry: {
      listTags: (ref) => {
        lists.push(`${ref.registry}/${ref.repository}`);
        return Promise.resolve(['latest', '1.2.0', 'v2.3.1', 'v1', '1.25.3', '1.4.0', '3.1.0', '2.0.4']);
      },
      getDigest: () => Promise.resolve(D),
    },
    credentials: () => Promise.resolve(undefined),
    timers: clock,
    observe: (s, r) => metrics.observeRegistryEvent(s, r),
    logger: pino({ level: 'silent' }),
  });
  const app = await buildReceiverApp({
    token: TOKEN,
    trigger,
    isLeader: () => over.leader ?? true,
    observe: (s, r) => metrics.observeRegistryEvent(s, r),
    now: () => clock.now(),
    ...over,
    logger: over.logger ?? false,
  });
  t.teardown(() => app.close());
  const settle = async () => {
    clock.advance(0);
    await trigger.idle();
  };
  const count = async (source: string, result: string): Promise<number> => {
    const text = (await metrics.render()).body;
    const m = new RegExp(`registry_events_total\\{source="${source}",result="${result}"\\} (\\d+)`).exec(
      text,
    );
    return m ? Number(m[1]) : 0;
  };
  return { app, clock, trigger, applied, lists, settle, count };
}

/** The request a correctly configured source sends. */
function authenticated(source: Source, payload: string, token = TOKEN) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  let url = `/api/v1/webhooks/${source}`;
  switch (SOURCE_AUTH[source]) {
    case 'bearer':
      headers.authorization = `Bearer ${token}`;
      break;
    case 'url-token':
      url += `?token=${encodeURIComponent(token)}`;
      break;
    case 'hmac-sha256':
      headers['x-hub-signature-256'] = `sha256=${createHmac('sha256', token).update(payload).digest('hex')}`;
      headers['x-github-event'] = 'package';
      break;
  }
  return { method: 'POST' as const, url, headers, payload };
}

t.test('every source: its documented payload is taken; without the token it is a bare 401', async (t) => {
  const r = await receiver(t);
  for (const source of SOURCES) {
    const ok = await r.app.inject(authenticated(source, body(source)));
    t.equal(ok.statusCode, 202, `${source}: accepted`);
    t.ok(ok.json<{ taken: number }>().taken >= 1, `${source}: events taken`);
    for (const bad of [
      authenticated(source, body(source), 'wrong-token-0123456789abcdef'),
      {
        method: 'POST' as const,
        url: `/api/v1/webhooks/${source}`,
        headers: { 'content-type': 'application/json' },
        payload: body(source),
      },
    ]) {
      const res = await r.app.inject(bad);
      t.equal(res.statusCode, 401, `${source}: refused`);
      t.same(res.json(), { error: 'unauthorized' }, `${source}: no detail`);
    }
  }
  await r.settle();
  t.equal(r.applied.length, SOURCES.length, 'one reconcile per source repository');
  t.equal(await r.count('github', 'unauthorized'), 2);
});

t.test('github: the signature covers the exact bytes; a replayed delivery is a duplicate', async (t) => {
  const r = await receiver(t);
  const payload = body('github');
  const good = authenticated('github', payload);
  // The same JSON re-serialised is not what was signed.
  const reformatted = { ...good, payload: JSON.stringify(JSON.parse(payload)) };
  t.equal((await r.app.inject(reformatted)).statusCode, 401);
  const sha1 = { ...good, headers: { ...good.headers, 'x-hub-signature-256': 'sha1=abc' } };
  t.equal((await r.app.inject(sha1)).statusCode, 401);
  t.equal((await r.app.inject(good)).statusCode, 202);
  t.equal((await r.app.inject(good)).statusCode, 202, 'a replay is answered (the sender stops retrying)');
  await r.settle();
  t.equal(await r.count('github', 'accepted'), 1);
  t.equal(await r.count('github', 'duplicate'), 1);
  t.equal(r.lists.length, 1, 'the replay asked the registry nothing');
  t.notOk(signatureMatches(TOKEN, payload, `sha256=${'0'.repeat(64)}`));
});

t.test('a flood of one source gets 429 before any body is read; other sources are not held up', async (t) => {
  const r = await receiver(t, { ratePerSecond: 2 });
  const codes: number[] = [];
  for (let i = 0; i < 30; i++)
    codes.push((await r.app.inject(authenticated('harbor', body('harbor')))).statusCode);
  t.equal(codes.filter((c) => c === 202).length, 10, 'the burst (5 x the rate) passes');
  t.equal(codes.filter((c) => c === 429).length, 20);
  const other = await r.app.inject(authenticated('acr', body('acr')));
  t.equal(other.statusCode, 202);
  r.clock.advance(1000);
  t.equal((await r.app.inject(authenticated('harbor', body('harbor')))).statusCode, 202, 'refilled');
  await r.settle();
  t.equal(await r.count('harbor', 'rate_limited'), 20);
  t.equal(r.lists.length, 2, 'one tag list per repository for the whole flood');
});

t.test('bodies: over the cap 413 over a real socket; not JSON 415; not the schema 400', async (t) => {
  const r = await receiver(t);
  await r.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = r.app.server.address() as AddressInfo;
  const big = JSON.stringify({ events: [], pad: 'x'.repeat(RECEIVER_BODY_LIMIT) });
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/webhooks/distribution',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(big),
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(big);
  });
  t.equal(status, 413);
  const text = {
    ...authenticated('distribution', 'events=1'),
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' },
  };
  t.equal((await r.app.inject(text)).statusCode, 415);
  const res = await r.app.inject(authenticated('distribution', JSON.stringify({ events: 'nope' })));
  t.equal(res.statusCode, 400);
  t.equal(await r.count('distribution', 'invalid'), 1);
  t.equal((await r.app.inject(authenticated('acr', '{"action":'))).statusCode, 400, 'broken JSON');
  t.equal(
    (await r.app.inject({ ...authenticated('acr', body('acr')), url: '/api/v1/webhooks/nexus' })).statusCode,
    404,
  );
});

t.test('a replica that is not the leader answers 503 so the sender retries', async (t) => {
  const r = await receiver(t, { leader: false });
  const res = await r.app.inject(authenticated('acr', body('acr')));
  t.equal(res.statusCode, 503);
  t.equal(res.headers['retry-after'], '5');
  t.equal(await r.count('acr', 'not_leader'), 1);
});

t.test('the URL token of Docker Hub is never logged', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'trace' }, sink);
  const r = await receiver(t, { logger });
  t.equal((await r.app.inject(authenticated('dockerhub', body('dockerhub')))).statusCode, 202);
  t.equal(
    (await r.app.inject(authenticated('dockerhub', body('dockerhub'), 'wrong-token-0123456789abcdef')))
      .statusCode,
    401,
  );
  await r.settle();
  t.notMatch(lines.join(''), /hook-token|wrong-token/);

  // On HTTP_PORT the watcher's app logs its other requests but not the receivers'.
  const appLines: string[] = [];
  const appLogger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        appLines.push(chunk.toString());
        done();
      },
    }),
  );
  const metrics = new WatcherMetrics({ defaultMetrics: false });
  const app = await build({
    api: {
      workloads: () => [],
      snapshot: () => undefined,
      manualUpdate: () => Promise.reject(new Error('no')),
    },
    registry: { listTags: () => Promise.resolve([]) },
    metrics,
    ready: () => true,
    logger: appLogger,
    receiver: {
      token: TOKEN,
      trigger: { receive: (_s, events) => events.length },
      isLeader: () => true,
      observe: (s, res) => metrics.observeRegistryEvent(s, res),
    },
  });
  t.teardown(() => app.close());
  t.equal((await app.inject(authenticated('dockerhub', body('dockerhub')))).statusCode, 202);
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
  t.notMatch(appLines.join(''), /hook-token/);
  t.match(appLines.join(''), /\/healthz/, 'other requests are still logged');
});

t.test(
  'RECEIVER_PORT: only the receivers and /healthz; without a token nothing is routed on HTTP_PORT',
  async (t) => {
    const r = await receiver(t);
    for (const url of ['/metrics', '/api/v1/workloads', '/readyz']) {
      t.equal(
        (await r.app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } })).statusCode,
        404,
        url,
      );
    }
    t.equal((await r.app.inject({ url: '/healthz' })).statusCode, 200);
    const metrics = new WatcherMetrics({ defaultMetrics: false });
    const app = await build({
      api: {
        workloads: () => [],
        snapshot: () => undefined,
        manualUpdate: () => Promise.reject(new Error('no')),
      },
      registry: { listTags: () => Promise.resolve([]) },
      metrics,
      ready: () => true,
    });
    t.teardown(() => app.close());
    const res = await app.inject(authenticated('acr', body('acr')));
    t.equal(res.statusCode, 401, 'no receiver: the API guard answers, no token opens it');
  },
);
