import t from 'tap';
import type { WorkloadView } from '../../../watcher/api.ts';
import { approvalAdapter } from '../../../watcher/http/approval.ts';

const view: WorkloadView = {
  namespace: 'shop',
  kind: 'Deployment',
  name: 'web',
  mode: 'NOTIFICATION',
  strategy: 'ALL',
  containers: [
    {
      name: 'app',
      image: 'nginx:1.25.0',
      currentVersion: '1.25.0',
      latestVersion: '1.26.0',
      updateAvailable: true,
    },
  ],
  lastCheck: undefined,
  lastError: undefined,
};

function adapter(notes: Record<string, { url?: string; summary?: string }>) {
  const asked: string[] = [];
  const a = approvalAdapter({
    workloads: () => [view],
    manualUpdate: () => Promise.reject(new Error('not used')),
    snapshot: () => undefined,
    releaseNotesFor: (kind, namespace, name, version) => {
      asked.push(`${kind}/${namespace}/${name}@${version}`);
      return notes[version];
    },
  });
  return { a, asked };
}

t.test('the approval lookup passes the release notes the controller kept for that version', async (t) => {
  const { a, asked } = adapter({ '1.26.0': { url: 'https://example.com/1.26.0', summary: 'Faster.' } });
  const info = await a.lookup('shop', 'Deployment', 'web', '1.26.0');
  t.match(info, {
    currentVersion: '1.25.0',
    newestVersion: '1.26.0',
    releaseNotes: { url: 'https://example.com/1.26.0', summary: 'Faster.' },
  });
  t.same(asked, ['Deployment/shop/web@1.26.0'], 'asked for the link version of that workload');
  t.end();
});

t.test('without kept notes the lookup has no releaseNotes field', async (t) => {
  const { a } = adapter({});
  const info = await a.lookup('shop', 'Deployment', 'web', '1.26.0');
  t.ok(info);
  t.notOk(info && 'releaseNotes' in info);
  t.equal(await a.lookup('shop', 'Deployment', 'gone', '1.26.0'), undefined, 'unknown workload');
  t.end();
});

t.test('the lookup reports the last update stamp and the failed version from the annotations', async (t) => {
  const a = approvalAdapter({
    workloads: () => [view],
    manualUpdate: () => Promise.reject(new Error('not used')),
    snapshot: () =>
      ({
        annotations: {
          'image-watcher/last-updated': '2026-11-23T12:00:05Z',
          'image-watcher/last-failed-version': '1.26.0',
        },
      }) as unknown as ReturnType<Parameters<typeof approvalAdapter>[0]['snapshot']>,
    releaseNotesFor: () => undefined,
  });
  t.match(await a.lookup('shop', 'Deployment', 'web', '1.26.0'), {
    lastUpdated: '2026-11-23T12:00:05Z',
    failedVersions: ['1.26.0'],
  });
});

t.test('the lookup asks the signature gate who signed the link version of the image', async (t) => {
  const asked: string[] = [];
  const a = approvalAdapter(
    {
      workloads: () => [view],
      manualUpdate: () => Promise.reject(new Error('not used')),
      snapshot: () => undefined,
      releaseNotesFor: () => undefined,
    },
    {
      signerOf: (image, version) => {
        asked.push(`${image} ${version}`);
        return version === '1.26.0' ? 'key Secret shop/cosign-pub (cosign.pub)' : undefined;
      },
    },
  );
  t.match(await a.lookup('shop', 'Deployment', 'web', '1.26.0'), {
    signedBy: 'key Secret shop/cosign-pub (cosign.pub)',
  });
  const other = await a.lookup('shop', 'Deployment', 'web', '1.25.9');
  t.notOk(other && 'signedBy' in other);
  t.same(asked, ['nginx:1.25.0 1.26.0', 'nginx:1.25.0 1.25.9']);
  t.end();
});
