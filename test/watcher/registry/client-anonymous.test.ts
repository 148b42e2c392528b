import t from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import { OciRegistryClient } from '../../../watcher/registry/client.ts';
import { RegistryError } from '../../../watcher/registry/errors.ts';
import { buildImage, buildIndex } from '../../support/images.ts';
import { pushImage, startCountingProxy, startRegistry } from '../../support/registry.ts';
import type { RunningRegistry } from '../../support/registry.ts';

let registry: RunningRegistry;
const pushed: Record<string, string> = {};

t.before(async () => {
  registry = await startRegistry();
  const { url } = registry;
  await Promise.all(
    ['1.2.3', '1.2.4', '1.3.0', '1.10.1', '2.0.0', '1.4.0-rc.1', 'latest'].map(async (tag) => {
      pushed[`app:${tag}`] = await pushImage(url, 'app', [tag], buildImage());
    }),
  );
  pushed['multi:1.0.0'] = await pushImage(
    url,
    'team/multi',
    ['1.0.0'],
    buildIndex({
      platforms: [
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'amd64' },
      ],
      labels: (p) => ({
        'org.opencontainers.image.source': 'https://github.com/acme/multi',
        arch: p.architecture,
      }),
    }),
  );
  pushed['docker:1.0'] = await pushImage(
    url,
    'legacy',
    ['1.0'],
    buildImage({
      format: 'docker',
      labels: { 'org.opencontainers.image.source': 'https://github.com/acme/legacy' },
    }),
  );
  pushed['list:1.0'] = await pushImage(
    url,
    'legacy-list',
    ['1.0'],
    buildIndex({ platforms: [{ os: 'linux', architecture: 'arm' }], format: 'docker' }),
  );
  // More tags than one page (the test client asks for 5 per page).
  await Promise.all(
    Array.from({ length: 12 }, (_, i) => pushImage(url, 'paged', [`0.${i}.0`], buildImage())),
  );
});
t.teardown(() => registry.stop());

const ref = (image: string) => parseImageReference(`${registry.host}/${image}`);

t.test('lists every tag of a repository anonymously', async (t) => {
  const client = new OciRegistryClient();
  const tags = await client.listTags(ref('app:1.2.3'));
  t.same(tags.sort(), ['1.10.1', '1.2.3', '1.2.4', '1.3.0', '1.4.0-rc.1', '2.0.0', 'latest']);
});

t.test('follows Link pagination when the list is longer than one page', async (t) => {
  // distribution 2.8 ignores `n`; the proxy pages the real registry's list as newer registries do.
  const proxy = await startCountingProxy(registry.url, { paginate: true });
  t.teardown(() => proxy.close());
  const client = new OciRegistryClient({ pageSize: 5 });
  const tags = await client.listTags(parseImageReference(`${proxy.host}/paged:0.0.0`));
  t.equal(tags.length, 12);
  t.equal(new Set(tags).size, 12, 'no tag twice');
  t.equal(proxy.count('GET', /\/tags\/list$/), 3, '12 tags at 5 per page take 3 requests');
});

t.test(
  'reads digests with HEAD for OCI manifests, OCI indexes, Docker manifests and manifest lists',
  async (t) => {
    const client = new OciRegistryClient();
    t.equal(await client.getDigest(ref('app:1.2.3'), '1.2.3'), pushed['app:1.2.3']);
    t.equal(
      await client.getDigest(ref('team/multi:1.0.0'), '1.0.0'),
      pushed['multi:1.0.0'],
      'index digest, not a platform',
    );
    t.equal(await client.getDigest(ref('legacy:1.0'), '1.0'), pushed['docker:1.0']);
    t.equal(await client.getDigest(ref('legacy-list:1.0'), '1.0'), pushed['list:1.0']);
  },
);

t.test('sees a new digest behind latest after a new cycle', async (t) => {
  const client = new OciRegistryClient();
  const before = await client.getDigest(ref('moving:latest'), 'latest').catch(() => undefined);
  t.equal(before, undefined, 'not pushed yet');
  const first = await pushImage(registry.url, 'moving', ['latest'], buildImage());
  client.newCycle();
  t.equal(await client.getDigest(ref('moving:latest'), 'latest'), first);
  const second = await pushImage(registry.url, 'moving', ['latest'], buildImage());
  t.not(second, first);
  t.equal(await client.getDigest(ref('moving:latest'), 'latest'), first, 'same cycle: memoised');
  client.newCycle();
  t.equal(await client.getDigest(ref('moving:latest'), 'latest'), second, 'next cycle: the new digest');
});

t.test(
  'reads image labels through an index (linux/amd64 preferred) and from a Docker manifest',
  async (t) => {
    const client = new OciRegistryClient();
    t.same(await client.getImageLabels(ref('team/multi:1.0.0'), '1.0.0'), {
      'org.opencontainers.image.source': 'https://github.com/acme/multi',
      arch: 'amd64',
    });
    t.same(await client.getImageLabels(ref('legacy:1.0'), '1.0'), {
      'org.opencontainers.image.source': 'https://github.com/acme/legacy',
    });
    t.same(await client.getImageLabels(ref('legacy-list:1.0'), '1.0'), {}, 'no labels: empty map');
  },
);

t.test('names the missing repository or tag', async (t) => {
  const client = new OciRegistryClient();
  const missingRepo = await client.listTags(ref('nope:1.0')).catch((e: unknown) => e);
  t.ok(missingRepo instanceof RegistryError);
  t.match(missingRepo, {
    code: 'E_REGISTRY_NOT_FOUND',
    message: `repository nope not found on ${registry.host}`,
  });
  const missingTag = await client.getDigest(ref('app:9.9.9'), '9.9.9').catch((e: unknown) => e);
  t.match(missingTag, { code: 'E_REGISTRY_NOT_FOUND', message: /9\.9\.9 of repository app not found/ });
});
