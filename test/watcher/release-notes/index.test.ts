import t from 'tap';
import type { ImageReference } from '../../../shared/image-ref.ts';
import type { WorkloadSnapshot } from '../../../watcher/kube/types.ts';
import { createReleaseNotes, releaseNotesFromConfig } from '../../../watcher/release-notes/index.ts';
import type { Resolve } from '../../../watcher/release-notes/ssrf.ts';
import { captureLogger } from '../../support/logs.ts';
import { startServer } from './helpers.ts';

const workload = { kind: 'Deployment', namespace: 'default', name: 'web' } as unknown as WorkloadSnapshot;

function req(releaseUrl: string | undefined) {
  return { workload, releaseUrl, image: 'traefik', newImage: 'traefik:v3.1.2', newVersion: 'v3.1.2' };
}

t.test('notes from the release-url annotation are fetched, excerpted and summarised', async (t) => {
  const server = await startServer((r, res) => {
    if (r.url === '/repos/traefik/traefik/releases/tags/v3.1.2') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(
        JSON.stringify({
          name: 'v3.1.2',
          body: '- fix ingress',
          html_url: `http://${r.headers.host}/traefik/traefik/releases/tag/v3.1.2`,
        }),
      );
    }
    if (r.url === '/v1/chat/completions') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ choices: [{ message: { content: '- Fixes ingress status' } }] }));
    }
    res.writeHead(404).end();
  });
  t.teardown(() => server.close());
  const { logger } = captureLogger();
  const notes = createReleaseNotes({
    logger,
    fetch: { allowPrivate: true, githubApiHosts: [`127.0.0.1:${server.port}`], githubToken: 'ghp_x' },
    summarize: { url: `${server.origin}/v1`, model: 'm' },
  });
  const got = await notes(req(`${server.origin}/repos/traefik/traefik/releases/tags/\${tag}`));
  t.same(got, {
    url: `${server.origin}/traefik/traefik/releases/tag/v3.1.2`,
    excerpt: '- fix ingress',
    summary: '- Fixes ingress status',
  });
  t.equal(server.requests[0]?.headers.authorization, 'Bearer ghp_x');
  t.match(server.requests[1]?.body, 'Release notes of traefik v3.1.2');
});

t.test('without a summariser only the notes are attached', async (t) => {
  const server = await startServer((_r, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('notes text');
  });
  t.teardown(() => server.close());
  const { logger } = captureLogger();
  const notes = createReleaseNotes({ logger, fetch: { allowPrivate: true } });
  t.same(await notes(req(`${server.origin}/\${tag}.txt`)), {
    url: `${server.origin}/v3.1.2.txt`,
    excerpt: 'notes text',
  });
  t.equal(server.requests[0]?.url, '/v3.1.2.txt');
});

t.test(
  'a URL derived from the source label is tried, and a blocked fetch still yields the link',
  async (t) => {
    const { logger, lines } = captureLogger();
    const resolve: Resolve = () => Promise.resolve([{ address: '10.0.0.1', family: 4 }]);
    const asked: [string, string][] = [];
    const notes = createReleaseNotes({
      logger,
      imageLabels: (image, tag) => {
        asked.push([image, tag]);
        return Promise.resolve({ 'org.opencontainers.image.source': 'https://github.com/traefik/traefik' });
      },
      fetch: { resolve },
    });
    t.same(await notes(req(undefined)), { url: 'https://github.com/traefik/traefik/releases/tag/v3.1.2' });
    t.same(asked, [['traefik:v3.1.2', 'v3.1.2']]);
    const warn = lines.find((l) => l.level === 40);
    t.match(warn?.err, /api\.github\.com resolves to 10\.0\.0\.1/, 'a blocked target is a warning');
  },
);

t.test('no annotation and no usable label means no notes', async (t) => {
  const { logger } = captureLogger();
  const without = createReleaseNotes({ logger });
  t.equal(await without(req(undefined)), undefined, 'labels not asked for');
  const failing = createReleaseNotes({
    logger,
    imageLabels: () => Promise.reject(new Error('registry down')),
  });
  t.equal(await failing(req(undefined)), undefined, 'labels unavailable');
  const other = createReleaseNotes({
    logger,
    imageLabels: () => Promise.resolve({ 'org.opencontainers.image.source': 'https://gitlab.com/a/b' }),
  });
  t.equal(await other(req(undefined)), undefined, 'not a GitHub source');
});

t.test('the config-based factory asks the registry for labels of the new version', async (t) => {
  const { logger } = captureLogger();
  const asked: [ImageReference, string][] = [];
  const notes = releaseNotesFromConfig({
    config: {
      githubToken: undefined,
      releaseNotesAllowPrivate: false,
      openAi: { url: 'http://127.0.0.1:9/v1', key: undefined, model: 'm' },
    },
    registry: {
      getImageLabels: (ref, reference) => {
        asked.push([ref, reference]);
        return Promise.resolve({});
      },
    },
    logger,
  });
  t.equal(await notes({ ...req(undefined), newImage: 'ghcr.io/org/app:2.0' }), undefined);
  t.equal(asked[0]?.[0].registry, 'ghcr.io');
  t.equal(asked[0]?.[0].repository, 'org/app');
  t.equal(asked[0]?.[1], 'v3.1.2');
});
