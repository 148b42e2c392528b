// The min-age and platform gates against the real distribution registry, through the real client.
import t from 'tap';
import { parseWatchSettings } from '../../../shared/annotations.ts';
import type { WatchSettings } from '../../../shared/annotations.ts';
import { parseImageReference } from '../../../shared/image-ref.ts';
import type { GateContext, GateSubject } from '../../../watcher/check/gates.ts';
import { minAgeGate, platformGate, policyGates } from '../../../watcher/check/policy-gates.ts';
import { OciRegistryClient } from '../../../watcher/registry/client.ts';
import { buildImage, buildIndex } from '../../support/images.ts';
import { pushImage, startCountingProxy, startRegistry } from '../../support/registry.ts';
import type { CountingProxy, RunningRegistry } from '../../support/registry.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

let registry: RunningRegistry;
let proxy: CountingProxy;
const digest: Record<string, string> = {};

t.before(async () => {
  registry = await startRegistry();
  const { url } = registry;
  const push = async (repo: string, tag: string, image: ReturnType<typeof buildImage>) => {
    digest[`${repo}:${tag}`] = await pushImage(url, repo, [tag], image);
  };
  await push('app', '1.0.0', buildImage({ created: '2026-01-01T00:00:00Z' }));
  await push('app', '1.0.1', buildImage({ created: '2026-05-29T00:00:00Z' })); // exactly 3 days old
  await push('app', '1.1.0', buildImage({ created: '2026-05-31T12:00:00Z' })); // 12 hours old
  await push('app', '1.2.0', buildImage({ created: null })); // no creation time
  await push('app', '1.3.0', buildImage({ created: '2026-07-01T00:00:00Z' })); // in the future
  await push('multi', '1.0.0', buildIndex({ platforms: [AMD64, ARM64] }));
  await push('multi', '1.1.0', buildIndex({ platforms: [AMD64] }));
  await push('multi', '1.2.0', buildImage());
  await push(
    'multi',
    '1.3.0',
    buildIndex({ platforms: [ARM64, AMD64, { os: 'linux', architecture: 's390x' }] }),
  );
  await push('multi', '1.4.0', buildIndex({ platforms: [AMD64, { os: 'linux', architecture: 'arm64' }] }));
  // For an index the age is that of linux/amd64 (the platform image the workload runs by default).
  await push(
    'multi',
    '2.0.0',
    buildIndex({
      platforms: [AMD64, ARM64],
      created: (p) => (p.architecture === 'amd64' ? '2026-01-01T00:00:00Z' : '2026-05-31T23:00:00Z'),
    }),
  );
  await push('single', '1.0.0', buildImage());
  await push('single', '1.1.0', buildIndex({ platforms: [ARM64] }));
  proxy = await startCountingProxy(registry.url);
});
t.teardown(async () => {
  await proxy.close();
  await registry.stop();
});

function settings(annotations: Record<string, string>): WatchSettings {
  const r = parseWatchSettings(annotations);
  if (!r.ok) throw new Error(r.problems.map((p) => p.message).join('; '));
  return r.settings;
}

function subject(repo: string, running: string, tag: string, s: WatchSettings): GateSubject {
  const ref = parseImageReference(`${proxy.host}/${repo}:${running}`);
  return {
    ref,
    tag,
    digest: digest[`${repo}:${tag}`]!,
    current: { tag: running, digest: undefined },
    namespace: 'shop',
    settings: s,
  };
}

function ctx(client: OciRegistryClient): GateContext {
  return { registry: client, credentials: undefined, signal: new AbortController().signal, now: () => NOW };
}

t.test('min-age judges the OCI config created of the candidate digest', async (t) => {
  const client = new OciRegistryClient();
  const gate = minAgeGate();
  const s = settings({ 'image-watcher/min-age': '72h' });
  t.ok(gate.applies(s), 'applies when min-age is set');
  t.notOk(gate.applies(settings({})), 'no min-age: not asked at all');

  const old = await gate.check(subject('app', '1.0.0', '1.0.1', s), ctx(client));
  t.same(old, { ok: true, detail: 'built 2026-05-29T00:00:00Z' }, 'exactly min-age old: eligible (boundary)');

  const young = await gate.check(subject('app', '1.0.0', '1.1.0', s), ctx(client));
  t.match(young, {
    ok: false,
    held: {
      reason: 'min-age',
      until: '2026-06-03T12:00:00.000Z',
      message: /1\.1\.0 was built 12h ago .*min-age 3d/,
    },
  });

  const unknown = await gate.check(subject('app', '1.0.0', '1.2.0', s), ctx(client));
  t.match(unknown, { ok: false, held: { reason: 'min-age', message: /age is unknown/ } }, 'no created: held');
  t.equal(unknown.ok ? 'x' : unknown.held.until, undefined, 'an unknown age has no end');

  const future = await gate.check(subject('app', '1.0.0', '1.3.0', s), ctx(client));
  t.match(future, { ok: false, held: { reason: 'min-age', message: /in the future/ } }, 'future: held');

  const index = await gate.check(subject('multi', '1.0.0', '2.0.0', s), ctx(client));
  t.same(index, { ok: true, detail: 'built 2026-01-01T00:00:00Z' }, 'an index is judged by linux/amd64');

  const oneMs = settings({ 'image-watcher/min-age': '72h1s' });
  const justShort = await gate.check(subject('app', '1.0.0', '1.0.1', oneMs), ctx(client));
  t.match(justShort, { ok: false, held: { until: '2026-06-01T00:00:01.000Z' } }, 'a second short: held');
});

t.test(
  'platform: a multi-platform image never moves to a candidate lacking one of its platforms',
  async (t) => {
    const client = new OciRegistryClient();
    const gate = platformGate();
    const s = settings({ 'image-watcher/mode': 'AUTO_UPDATE' });
    t.ok(gate.applies(s));
    t.notOk(gate.applies(settings({})), 'NOTIFICATION: not asked (no extra request)');

    t.match(await gate.check(subject('multi', '1.0.0', '1.1.0', s), ctx(client)), {
      ok: false,
      held: {
        reason: 'platform',
        message: '1.1.0 lacks linux/arm64/v8; the running image provides linux/amd64, linux/arm64/v8',
      },
    });
    t.match(await gate.check(subject('multi', '1.0.0', '1.2.0', s), ctx(client)), {
      ok: false,
      held: { reason: 'platform', message: /1\.2\.0 is a single-platform image/ },
    });
    t.same(
      await gate.check(subject('multi', '1.0.0', '1.3.0', s), ctx(client)),
      { ok: true },
      'a superset, in another order: fine',
    );
    t.match(
      await gate.check(subject('multi', '1.0.0', '1.4.0', s), ctx(client)),
      { ok: false, held: { message: /lacks linux\/arm64\/v8/ } },
      'the variant counts',
    );
    t.same(
      await gate.check(subject('single', '1.0.0', '1.1.0', s), ctx(client)),
      { ok: true },
      'a single-platform current image has nothing to lose',
    );
  },
);

t.test('platform asks one manifest GET per digest', async (t) => {
  const client = new OciRegistryClient();
  const gate = platformGate();
  const s = settings({ 'image-watcher/mode': 'AUTO_UPDATE' });
  const before = proxy.requests.length;
  await Promise.all([
    gate.check(subject('multi', '1.0.0', '1.1.0', s), ctx(client)),
    gate.check(subject('multi', '1.0.0', '1.1.0', s), ctx(client)),
    gate.check(subject('multi', '1.0.0', '1.3.0', s), ctx(client)),
  ]);
  const asked = proxy.requests.slice(before).filter((r) => r.path.includes('/manifests/'));
  t.same(
    asked.map((r) => `${r.method} ${r.path.split('/manifests/')[1]}`).sort(),
    [`GET 1.0.0`, `GET ${digest['multi:1.1.0']}`, `GET ${digest['multi:1.3.0']}`].sort(),
    'the running index once, each candidate digest once',
  );
  client.newCycle();
  const next = proxy.requests.length;
  t.same(await gate.check(subject('multi', '1.0.0', '1.3.0', s), ctx(client)), { ok: true });
  t.same(
    proxy.requests.slice(next).map((r) => `${r.method} ${r.path.split('/manifests/')[1]}`),
    ['GET 1.0.0'],
    'next cycle: the running tag is asked again (it may move), a candidate digest never',
  );
});

t.test('the registry client reads platforms and created', async (t) => {
  const client = new OciRegistryClient();
  const ref = parseImageReference(`${registry.host}/multi:1.0.0`);
  t.same(await client.getManifestFacts(ref, '1.0.0'), { kind: 'index', platforms: [AMD64, ARM64] });
  t.same(await client.getManifestFacts(ref, '1.2.0'), { kind: 'image' });
  t.equal(await client.getImageCreated(ref, '2.0.0', ARM64), '2026-05-31T23:00:00Z', 'a chosen platform');
  t.equal(
    await client.getImageCreated(ref, '1.1.0', { os: 'linux', architecture: 'riscv64' }),
    undefined,
    'a platform the index lacks',
  );
});

t.test('the built-in gates', (t) => {
  t.same(
    policyGates().map((g) => g.reason),
    ['platform', 'min-age'],
  );
  t.end();
});
