// Every source's documented payload (test/fixtures/registry-events/) parsed into one shape.
import { readFileSync } from 'node:fs';
import t from 'tap';
import type { PayloadHeaders, Source } from '../../../watcher/push/sources.ts';
import { PushPayloadError, SOURCE_AUTH, SOURCES, parsePayload } from '../../../watcher/push/sources.ts';

const D = 'sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b';

function fixture(name: string): unknown {
  return JSON.parse(
    readFileSync(new URL(`../../fixtures/registry-events/${name}.json`, import.meta.url), 'utf8'),
  );
}

const cases: {
  name: string;
  source: Source;
  file: string;
  headers?: PayloadHeaders;
  want: { repository: string; tag: string; digest?: string; at?: number }[];
  ignored: number;
}[] = [
  {
    name: 'distribution: the manifest push by tag, the blob upload ignored; request.host names the registry',
    source: 'distribution',
    file: 'distribution',
    want: [
      {
        repository: '192.168.100.227:5000/hello-world',
        tag: '1.2.0',
        digest: D,
        at: Date.parse('2016-03-09T14:44:26.402973972-08:00'),
      },
    ],
    ignored: 1,
  },
  {
    name: "gitlab: the registry's distribution envelope with a nested project path",
    source: 'gitlab',
    file: 'gitlab',
    want: [{ repository: 'registry.gitlab.example.com/group/project/app', tag: 'v2.3.1', digest: D }],
    ignored: 0,
  },
  {
    name: 'acr: one event, not an envelope',
    source: 'acr',
    file: 'acr',
    want: [{ repository: 'myregistry.azurecr.io/hello-world', tag: 'v1', digest: D }],
    ignored: 0,
  },
  {
    name: 'dockerhub: docker.io, pushed_at in seconds, no digest',
    source: 'dockerhub',
    file: 'dockerhub',
    want: [{ repository: 'docker.io/svendowideit/testhook', tag: 'latest', at: 1417566161000 }],
    ignored: 0,
  },
  {
    name: 'harbor: PUSH_ARTIFACT resources, host from resource_url',
    source: 'harbor',
    file: 'harbor',
    want: [{ repository: 'harbor.example.com/library/nginx', tag: '1.25.3', digest: D, at: 1680501893000 }],
    ignored: 0,
  },
  {
    name: 'quay: one event per updated tag, host from docker_url',
    source: 'quay',
    file: 'quay',
    want: [
      { repository: 'quay.io/dgangaia/test', tag: 'latest' },
      { repository: 'quay.io/dgangaia/test', tag: '1.4.0' },
    ],
    ignored: 0,
  },
  {
    name: 'github: a published container package version, tag and digest from container_metadata',
    source: 'github',
    file: 'github',
    headers: { 'x-github-event': 'package' },
    want: [{ repository: 'ghcr.io/octo-org/app', tag: '3.1.0', digest: D }],
    ignored: 0,
  },
  {
    name: 'github: another event type is ignored',
    source: 'github',
    file: 'github',
    headers: { 'x-github-event': 'push' },
    want: [],
    ignored: 1,
  },
  {
    name: 'cloudevents: ECR through EventBridge names the account and region registry',
    source: 'cloudevents',
    file: 'cloudevents-ecr',
    want: [
      {
        repository: '123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name',
        tag: '2.0.4',
        digest: D,
      },
    ],
    ignored: 0,
  },
  {
    name: "cloudevents: Harbor's CloudEvents format",
    source: 'cloudevents',
    file: 'cloudevents-harbor',
    want: [{ repository: 'harbor.example.com/library/nginx', tag: '1.25.3', digest: D }],
    ignored: 0,
  },
];

for (const c of cases) {
  t.test(c.name, (t) => {
    const got = parsePayload(c.source, fixture(c.file), c.headers);
    t.equal(got.ignored, c.ignored);
    t.match(got.events, c.want);
    t.equal(got.events.length, c.want.length);
    t.end();
  });
}

t.test('cloudevents binary mode: the ce-* headers carry the envelope, the body is the data', (t) => {
  const structured = fixture('cloudevents-ecr') as { data: unknown };
  const got = parsePayload('cloudevents', structured.data, {
    'ce-specversion': '1.0',
    'ce-type': 'aws.ecr.image.action',
  });
  t.match(got.events, [{ tag: '2.0.4', digest: D }]);
  t.end();
});

t.test('pulls, deletes and pushes by digest are ignored; odd names are not events', (t) => {
  const event = (action: string, target: Record<string, unknown>) => ({
    action,
    target: { repository: 'app', ...target },
    request: { host: 'r.example:5000' },
  });
  const got = parsePayload('distribution', {
    events: [
      event('pull', { tag: '1.0.0' }),
      event('delete', { tag: '1.0.0' }),
      event('push', { digest: D }),
      event('push', { tag: '-bad tag' }),
      event('push', { tag: '1.0.0', repository: 'UPPER/../x' }),
      event('push', { tag: '1.0.1', digest: 'md5:nope' }),
    ],
  });
  t.equal(got.ignored, 5);
  t.match(got.events, [{ repository: 'r.example:5000/app', tag: '1.0.1', digest: undefined }]);
  const failed = parsePayload('harbor', { type: 'DELETE_ARTIFACT', event_data: { resources: [] } });
  t.same(failed, { events: [], ignored: 1 });
  t.throws(() => parsePayload('quay', 'text'), PushPayloadError);
  t.end();
});

t.test('official Docker Hub images are library/ repositories', (t) => {
  const got = parsePayload('dockerhub', { push_data: { tag: '1.27' }, repository: { repo_name: 'nginx' } });
  t.match(got.events, [{ repository: 'docker.io/library/nginx', tag: '1.27' }]);
  t.end();
});

t.test('every source has an authentication rule; only Docker Hub and Quay take the token in the URL', (t) => {
  t.same(
    SOURCES.filter((s) => SOURCE_AUTH[s] === 'url-token'),
    ['dockerhub', 'quay'],
  );
  t.equal(SOURCE_AUTH.github, 'hmac-sha256');
  t.end();
});
