// GitOps editors on real-world-shaped files: only the version changes, byte for byte elsewhere.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import type { Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import { parseImageReference } from '../../../shared/image-ref.ts';
import {
  EditError,
  editFile,
  editFiles,
  findImageSites,
  setSiteVersion,
  setSiteVersions,
} from '../../../watcher/gitops/edit/index.ts';
import type { EditRequest } from '../../../watcher/gitops/edit/index.ts';

const FIXTURES = new URL('../../fixtures/gitops/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const DIGEST = `sha256:${'ab'.repeat(32)}`;

function request(
  workload: string,
  container: string,
  image: string,
  tag: string,
  digest?: string,
): EditRequest {
  const [namespace, kind, name] = workload.split('/') as [string, string, string];
  return {
    workload: { kind, namespace, name },
    container,
    image: parseImageReference(image),
    to: digest === undefined ? { tag } : { tag, digest },
  };
}

/** The lines that differ; the texts must have the same number of lines (nothing added or lost). */
function changedLines(before: string, after: string): { line: number; from: string; to: string }[] {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length !== b.length) throw new Error(`line count ${a.length} -> ${b.length}`);
  return a.flatMap((from, i) => (from === b[i] ? [] : [{ line: i + 1, from, to: b[i]! }]));
}

/** Edits, then checks that exactly that one line changed, into exactly `want`. */
function expectOneLine(tt: Test, file: string, req: EditRequest, want: { line: number; to: string }): string {
  const before = fixture(file);
  const { text, site } = editFile(file, before, req);
  tt.same(changedLines(before, text), [
    { line: want.line, from: before.split('\n')[want.line - 1], to: want.to },
  ]);
  tt.equal(site.line, want.line, 'the site returned is the one edited');
  return text;
}

t.test('kustomization images: newTag, matched by name or newName, comments and quoting kept', (tt) => {
  expectOneLine(
    tt,
    'kustomization.yaml',
    request('shop/Deployment/web', 'web', 'ghcr.io/acme/web:1.4.2', '1.10.0'),
    {
      line: 13,
      to: '    newTag: "1.10.0"   # keep quoted: 1.10 is not 1.1',
    },
  );
  // The cluster runs the mirror (newName); the entry is still found, single quotes kept.
  expectOneLine(
    tt,
    'kustomization.yaml',
    request('shop/StatefulSet/db', 'postgres', 'registry.acme.internal/mirror/postgres:16.2', '16.4'),
    { line: 16, to: "    newTag: '16.4'" },
  );
  // A flow-map entry keeps its braces.
  expectOneLine(tt, 'kustomization.yaml', request('shop/CronJob/x', 'c', 'busybox:1.36.0', '1.37.0'), {
    line: 20,
    to: '  - {name: busybox, newTag: 1.37.0}',
  });
  tt.end();
});

t.test('kustomization digest: a pinned entry needs the new digest and gets both lines', (tt) => {
  const before = fixture('kustomization.yaml');
  const req = request('shop/Deployment/cache', 'redis', 'redis:7.2.4', '7.2.5');
  tt.throws(() => editFile('kustomization.yaml', before, req), { code: 'E_EDIT_UNSUPPORTED' });
  const { text } = editFile('kustomization.yaml', before, { ...req, to: { tag: '7.2.5', digest: DIGEST } });
  tt.same(
    changedLines(before, text).map((c) => c.to),
    [`    digest: ${DIGEST}`, '    newTag: 7.2.5'],
  );
  tt.end();
});

t.test('kustomization entry without newTag: the line is added at the entry indentation, CRLF kept', (tt) => {
  const before =
    'kind: Kustomization\r\nimages:\r\n  - name: nginx # front\r\n    newName: mirror.local/nginx\r\n# end\r\n';
  const { text } = editFile(
    'kustomization.yaml',
    before,
    request('a/Deployment/b', 'c', 'mirror.local/nginx:1.0', '1.27.1'),
  );
  tt.equal(
    text,
    'kind: Kustomization\r\nimages:\r\n  - name: nginx # front\r\n    newName: mirror.local/nginx\r\n    newTag: "1.27.1"\r\n# end\r\n',
  );
  const flow = 'kind: Kustomization\nimages: [{name: nginx}]\n';
  tt.throws(() => editFile('k.yaml', flow, request('a/Deployment/b', 'c', 'nginx:1.0', '1.1')), {
    code: 'E_EDIT_UNSUPPORTED',
    message: /k\.yaml:2: the images entry nginx is a flow map: newTag cannot be added/,
  });
  tt.end();
});

t.test('Helm values: marker lines, anchors and aliases survive', (tt) => {
  const api = expectOneLine(
    tt,
    'values.yaml',
    request('shop/Deployment/api', 'api', 'ghcr.io/acme/api:2.3.1', '2.4.0'),
    {
      line: 10,
      to: '  tag: "2.4.0" # image-watcher: shop/api/api',
    },
  );
  tt.match(api, /image: \*api-image\n/, 'the alias still points at the anchor');
  tt.match(api, /<<: &defaults\n/, 'merge key and anchor untouched');
  // image= names the repository of a bare tag.
  expectOneLine(
    tt,
    'values.yaml',
    request('shop/Deployment/worker', 'worker', 'ghcr.io/acme/worker:v0.9.0', 'v0.10.0'),
    {
      line: 23,
      to: '    tag: v0.10.0    # image-watcher: shop/worker/worker image=ghcr.io/acme/worker',
    },
  );
  // A full reference on a marked line keeps its name as written and its quotes.
  expectOneLine(
    tt,
    'values.yaml',
    request('shop/Deployment/api', 'envoy', 'envoyproxy/envoy:v1.30.1', 'v1.31.0', DIGEST),
    {
      line: 27,
      to: `  image: 'docker.io/envoyproxy/envoy:v1.31.0@${DIGEST}' # image-watcher: shop/api/envoy`,
    },
  );
  // A marker without a container and without a known name matches any container of its workload.
  expectOneLine(
    tt,
    'values.yaml',
    request('monitoring/Deployment/exporter', 'x', 'quay.io/o/exporter:0.15.0', '0.16.0', DIGEST),
    {
      line: 32,
      to: `    tag: 0.16.0@${DIGEST} # image-watcher: monitoring/exporter`,
    },
  );
  tt.same(
    findImageSites(
      'notes.yaml',
      'a: x:1 # image-watcher: see Docs/Setup\nb: y:1 #image-watcher: ns/name/c\n',
    ).map((s) => [s.line, s.workload, s.container]),
    [[2, { namespace: 'ns', name: 'name' }, 'c']],
    'a marker names Kubernetes names; other comments are not markers',
  );
  tt.notOk(
    findImageSites('values.yaml', fixture('values.yaml')).some((s) => s.workload?.name === 'not-a-marker'),
    'a marker inside a block scalar is text',
  );
  tt.end();
});

t.test('multi-document manifest: containers, initContainers, digests, CronJob', (tt) => {
  expectOneLine(
    tt,
    'manifests.yaml',
    request('shop/Deployment/web', 'web', 'ghcr.io/acme/web:1.4.2', '1.5.0'),
    {
      line: 22,
      to: '          image: ghcr.io/acme/web:1.5.0   # the storefront',
    },
  );
  expectOneLine(
    tt,
    'manifests.yaml',
    request('shop/Deployment/web', 'migrate', 'ghcr.io/acme/web-migrate:1.4.2', '1.5.0'),
    {
      line: 19,
      to: '          image: "ghcr.io/acme/web-migrate:1.5.0"',
    },
  );
  expectOneLine(
    tt,
    'manifests.yaml',
    request('shop/StatefulSet/db', 'postgres', 'postgres:16.2', '16.4', DIGEST),
    {
      line: 44,
      to: `        - image: 'postgres:16.4@${DIGEST}'`,
    },
  );
  expectOneLine(
    tt,
    'manifests.yaml',
    request('default/CronJob/nightly-report', 'report', 'ghcr.io/acme/report:2024.11.3', '2024.12.1'),
    { line: 60, to: '              image: ghcr.io/acme/report:2024.12.1' },
  );
  tt.throws(
    () =>
      editFile(
        'manifests.yaml',
        fixture('manifests.yaml'),
        request('shop/Deployment/web', 'web', 'ghcr.io/acme/web:1.4.2', 'bad tag'),
      ),
    { code: 'E_EDIT_UNSUPPORTED' },
    'an invalid new tag is refused before anything is written',
  );
  tt.end();
});

t.test('compose: the service of that image', (tt) => {
  expectOneLine(tt, 'compose.yaml', request('shop/Deployment/shop', 'db', 'postgres:16.2', '16.4'), {
    line: 15,
    to: '    image: "postgres:16.4"     # major upgrades by hand',
  });
  expectOneLine(
    tt,
    'compose.yaml',
    request('shop/Deployment/cache', 'redis', 'redis:7.2.4-alpine', '7.4.1-alpine'),
    {
      line: 19,
      to: '    image: redis:7.4.1-alpine',
    },
  );
  tt.end();
});

t.test('CRLF file: every line ending stays CRLF, one line changes', (tt) => {
  const before = fixture('daemonset.crlf.yaml');
  tt.equal(before.split('\r\n').length, 14, 'the fixture has CRLF endings');
  const text = expectOneLine(
    tt,
    'daemonset.crlf.yaml',
    request('kube-system/DaemonSet/node-agent', 'logs', 'fluent/fluent-bit:3.0.4', '3.1.0'),
    { line: 13, to: '          image: "fluent/fluent-bit:3.1.0"\r' },
  );
  tt.equal(text.split('\r\n').length, 14);
  tt.notOk(/[^\r]\n/.test(text), 'no bare LF');
  tt.end();
});

t.test('refusals: absent, twice, invalid YAML, block scalars', (tt) => {
  const twice = fixture('twice.yaml');
  tt.throws(
    () =>
      editFile('twice.yaml', twice, request('shop/Deployment/api', 'api', 'ghcr.io/acme/api:2.3.1', '2.4.0')),
    {
      code: 'E_EDIT_AMBIGUOUS',
      message: /written 2 times \(twice\.yaml:10, twice\.yaml:20\)/,
    },
  );
  tt.throws(
    () =>
      editFile(
        'manifests.yaml',
        fixture('manifests.yaml'),
        request('shop/Deployment/web', 'nope', 'ghcr.io/acme/web:1', '2'),
      ),
    { code: 'E_EDIT_NOT_FOUND', message: /no image of shop\/Deployment\/web container nope/ },
  );
  tt.throws(
    () =>
      editFile(
        'compose.yaml',
        fixture('compose.yaml'),
        request('shop/Deployment/worker', 'worker', 'acme/worker:1', '2'),
      ),
    { code: 'E_EDIT_NOT_FOUND' },
    'a built service has no image',
  );
  const err = (() => {
    try {
      findImageSites('bad.yaml', 'a: [1, 2\nb: c\n');
    } catch (e) {
      return e;
    }
  })();
  tt.ok(err instanceof EditError);
  tt.match(err, { code: 'E_EDIT_YAML', message: /^bad\.yaml:\d+:\d+: not valid YAML/ });
  const block =
    'kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: >-\n        nginx:1.0\n';
  tt.throws(() => editFile('pod.yaml', block, request('default/Pod/p', 'c', 'nginx:1.0', '1.1')), {
    code: 'E_EDIT_UNSUPPORTED',
  });
  const escaped =
    'kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: "nginx\\x3a1.0"\n';
  tt.throws(() => editFile('pod.yaml', escaped, request('default/Pod/p', 'c', 'nginx:1.0', '1.1')), {
    code: 'E_EDIT_UNSUPPORTED',
  });
  tt.end();
});

t.test('editFiles: a kustomization overrides its base, two places are refused', (tt) => {
  const files = new Map([
    ['base/manifests.yaml', fixture('manifests.yaml')],
    ['overlay/kustomization.yaml', fixture('kustomization.yaml')],
    ['compose.yaml', 'services:\n  other:\n    image: nginx:1.0\n'],
  ]);
  const edited = editFiles(files, request('shop/Deployment/web', 'web', 'ghcr.io/acme/web:1.4.2', '1.5.0'));
  tt.equal(edited.file, 'overlay/kustomization.yaml');
  tt.equal(edited.site.kind, 'kustomization');
  tt.equal(changedLines(files.get(edited.file)!, edited.text).length, 1);
  // The proxy has no images: entry; its manifest is the one place.
  tt.equal(
    editFiles(files, request('shop/Deployment/web', 'proxy', 'envoyproxy/envoy:v1.30.1', 'v1.31.0')).file,
    'base/manifests.yaml',
  );
  files.set('copy/manifests.yaml', fixture('manifests.yaml'));
  tt.throws(
    () => editFiles(files, request('shop/Deployment/web', 'proxy', 'envoyproxy/envoy:v1.30.1', 'v1.31.0')),
    {
      code: 'E_EDIT_AMBIGUOUS',
      message: /base\/manifests\.yaml:25, copy\/manifests\.yaml:25/,
    },
  );
  tt.throws(() => editFiles(new Map(), request('a/Deployment/b', 'c', 'nginx:1', '2')), {
    code: 'E_EDIT_NOT_FOUND',
  });
  tt.end();
});

t.test('setSiteVersion edits a site found by findImageSites, and notices a changed file', (tt) => {
  const text = fixture('compose.yaml');
  const site = findImageSites('compose.yaml', text).find((s) => s.container === 'web')!;
  const after = setSiteVersion(text, site, { tag: '1.5.0' });
  tt.same(
    changedLines(text, after).map((c) => c.to),
    ['    image: ghcr.io/acme/web:1.5.0'],
  );
  tt.throws(() => setSiteVersion(after, site, { tag: '1.6.0' }), { code: 'E_EDIT_NOT_FOUND' });
  tt.end();
});

t.test('setSiteVersions: many sites of one file in one pass, as if one after the other', (tt) => {
  for (const name of ['kustomization.yaml', 'manifests.yaml', 'values.yaml', 'compose.yaml']) {
    const text = fixture(name);
    const edits = findImageSites(name, text).map((site, i) => ({
      site,
      // Every other site pinned (and those pinned already): kustomize gets a digest line added or rewritten.
      to:
        (i % 2 === 1 || site.digest !== undefined) && site.name !== 'busybox'
          ? { tag: `9.${i}.0`, digest: DIGEST }
          : { tag: `9.${i}.0` },
    }));
    const together = setSiteVersions(name, text, edits);
    // One by one from the last site: the earlier sites' lines do not move.
    const oneByOne = [...edits].reverse().reduce((t, e) => setSiteVersion(t, e.site, e.to), text);
    tt.equal(together, oneByOne, name);
    tt.ok(changedLinesOrInserted(text, together) >= edits.length, `${name}: every site changed`);
  }
  tt.end();
});

/** Lines of `after` that are not in `before`, inserted ones included. */
function changedLinesOrInserted(before: string, after: string): number {
  const old = new Set(before.split('\n'));
  return after.split('\n').filter((l) => !old.has(l)).length;
}

// Property: whatever comments, quoting, blank lines, key order and line endings surround it, only
// the image's line changes, and only in the version.
t.test('property: comments, quoting and layout survive an edit', (tt) => {
  const comment = fc.stringMatching(/^[ a-zA-Z0-9:'"#&*!|>{}[\],.-]{0,30}$/).map((s) => `# ${s}`);
  const maybeComment = fc.option(comment, { nil: undefined });
  const quote = fc.constantFrom('', "'", '"');
  const tag = fc.stringMatching(/^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/);
  fc.assert(
    fc.property(
      fc.record({
        eol: fc.constantFrom('\n', '\r\n'),
        quote,
        head: maybeComment,
        trailing: maybeComment,
        between: fc.array(fc.oneof(comment, fc.constant('')), { maxLength: 3 }),
        imageFirst: fc.boolean(),
        from: tag,
        to: tag,
        spaces: fc.integer({ min: 1, max: 4 }),
      }),
      (p) => {
        const imageLine = `image: ${p.quote}registry.local:5000/team/app:${p.from}${p.quote}${
          p.trailing === undefined ? '' : ' '.repeat(p.spaces) + p.trailing
        }`;
        const entry = p.imageFirst ? [`- ${imageLine}`, '  name: app'] : ['- name: app', `  ${imageLine}`];
        const lines = [
          ...(p.head === undefined ? [] : [p.head]),
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata:',
          '  name: app # the app',
          '  namespace: team',
          ...p.between,
          'spec:',
          '  template:',
          '    spec:',
          '      containers:',
          ...entry.map((l) => `        ${l}`),
          ...p.between.map((l) => `        ${l}`),
          '',
        ];
        const before = lines.join(p.eol);
        const { text } = editFile(
          'f.yaml',
          before,
          request('team/Deployment/app', 'app', `registry.local:5000/team/app:${p.from}`, p.to),
        );
        const changes = changedLines(before, text);
        const expected = before
          .split('\n')
          .find((l) => l.includes('image: '))!
          .replace(`:${p.from}${p.quote}`, `:${p.to}${p.quote}`);
        if (p.from === p.to) return changes.length === 0;
        const [doc] = parseAllDocuments(text);
        const image = doc?.getIn(['spec', 'template', 'spec', 'containers', 0, 'image']);
        return (
          changes.length === 1 &&
          changes[0]!.to === expected &&
          image === `registry.local:5000/team/app:${p.to}`
        );
      },
    ),
    { numRuns: 300 },
  );
  tt.end();
});

// Property: the same holds for kustomization entries, compose services and marked Helm values.
t.test('property: every editor keeps the rest of the file', (tt) => {
  const comment = fc.stringMatching(/^[ a-zA-Z0-9:'"#&*!|>{}[\],.-]{0,30}$/).map((s) => `# ${s}`);
  const version = fc.stringMatching(/^v?[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3})?$/);
  fc.assert(
    fc.property(
      fc.record({
        kind: fc.constantFrom('kustomization', 'compose', 'marker'),
        eol: fc.constantFrom('\n', '\r\n'),
        quote: fc.constantFrom('', "'", '"'),
        comments: fc.array(comment, { maxLength: 3 }),
        trailing: fc.option(comment, { nil: undefined }),
        from: version,
        to: version,
      }),
      (p) => {
        const q = (v: string): string => `${p.quote}${v}${p.quote}`;
        const tail = p.trailing === undefined ? '' : ` ${p.trailing}`;
        const name = 'ghcr.io/acme/app';
        const c = p.comments;
        const lines =
          p.kind === 'kustomization'
            ? [
                'kind: Kustomization',
                ...c,
                'images:',
                ...c.map((l) => `  ${l}`),
                `  - name: ${name}`,
                `    newTag: ${q(p.from)}${tail}`,
                ...c,
              ]
            : p.kind === 'compose'
              ? [
                  'services:',
                  ...c.map((l) => `  ${l}`),
                  '  app:',
                  `    image: ${q(`${name}:${p.from}`)}${tail}`,
                  '    restart: always',
                  ...c,
                ]
              : [
                  ...c,
                  'app: &app',
                  `  repository: ${name}`,
                  `  tag: ${q(p.from)} # image-watcher: shop/app/app`,
                  'copy: *app',
                  ...c,
                ];
        const before = [...lines, ''].join(p.eol);
        const { text, site } = editFile(
          p.kind === 'kustomization' ? 'kustomization.yaml' : 'f.yaml',
          before,
          request('shop/Deployment/app', 'app', `${name}:${p.from}`, p.to),
        );
        const changes = changedLines(before, text);
        if (p.from === p.to) return changes.length === 0;
        const old = before.split('\n')[site.line - 1]!;
        return (
          changes.length === 1 &&
          changes[0]!.line === site.line &&
          changes[0]!.to === old.replace(`${p.from}${p.quote}`, `${p.to}${p.quote}`) &&
          text.split('\r\n').length === before.split('\r\n').length
        );
      },
    ),
    { numRuns: 300 },
  );
  tt.end();
});

// Bad input gets a typed error, never a crash: arbitrary YAML-ish text either gives sites or EditError.
t.test('property: arbitrary text never throws anything but EditError', (tt) => {
  const unit = fc.constantFrom(
    ...'ab:1.- \n\r\t#&*!|>{}[],\'"@/'.split(''),
    'image: ',
    'kind: Pod\n',
    'services:\n',
    '# image-watcher: a/b\n',
  );
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 80 }), (text) => {
      for (const file of ['kustomization.yaml', 'f.yaml']) {
        try {
          findImageSites(file, text);
          editFile(file, text, request('a/Pod/b', 'c', 'x:1', '2'));
        } catch (err) {
          if (!(err instanceof EditError)) throw err;
        }
      }
    }),
    { numRuns: 500 },
  );
  tt.end();
});

/** The chart folder as the Git checkout reads it (readFiles: .yaml, .yml and .json only). */
function chartFiles(extra: Record<string, string> = {}): Map<string, string> {
  const names = [
    'Chart.yaml',
    'values.yaml',
    'templates/cronjob.yaml',
    'templates/deployment.yaml',
    'templates/service.yaml',
  ];
  return new Map([
    ...names.map((n): [string, string] => [`chart/${n}`, fixture(`helm-chart/${n}`)]),
    ...Object.entries(extra),
  ]);
}

t.test('editFiles: a Helm chart folder, templates that are not YAML skipped, marked ones edited', (tt) => {
  const cases: {
    name: string;
    files: Map<string, string>;
    req: EditRequest;
    want: { file: string; line: number; to: string } | { code: string; message: RegExp };
  }[] = [
    {
      name: 'values.yaml beside templates with {{ }}',
      files: chartFiles(),
      req: request('shop/Deployment/web', 'web', 'ghcr.io/acme/shop:1.4.2', '1.5.0'),
      want: { file: 'chart/values.yaml', line: 7, to: '  tag: "1.5.0" # image-watcher: shop/web/web' },
    },
    {
      name: 'a marker in a template: marker lines are line-based',
      files: chartFiles(),
      req: request('shop/CronJob/shop-report', 'report', 'registry.example.com/shop/report:2.0.1', '2.1.0'),
      want: {
        file: 'chart/templates/cronjob.yaml',
        line: 16,
        to: '              image: registry.example.com/shop/report:2.1.0 # image-watcher: shop/shop-report/report',
      },
    },
    {
      name: 'a quoted sequence item in a template, with a digest',
      files: chartFiles({
        'chart/templates/proxy.yaml':
          "{{- if .Values.proxy }}\nimages:\n  - 'nginx:1.25.3' # image-watcher: shop/proxy/nginx\n{{- end }}\n",
      }),
      req: request('shop/Deployment/proxy', 'nginx', 'nginx:1.25.3', '1.25.4', DIGEST),
      want: {
        file: 'chart/templates/proxy.yaml',
        line: 3,
        to: `  - 'nginx:1.25.4@${DIGEST}' # image-watcher: shop/proxy/nginx`,
      },
    },
    {
      name: 'nothing matched: the skipped templates are named in the refusal',
      files: chartFiles(),
      req: request('shop/Deployment/gone', 'app', 'ghcr.io/acme/gone:1.0.0', '1.0.1'),
      want: {
        code: 'E_EDIT_NOT_FOUND',
        message:
          /^no image of shop\/Deployment\/gone container app .* in chart\/Chart\.yaml, chart\/values\.yaml, chart\/templates\/cronjob\.yaml \(skipped, not YAML: chart\/templates\/deployment\.yaml:6:7: not valid YAML: .*; chart\/templates\/service\.yaml:11:7: not valid YAML/,
      },
    },
    {
      name: 'a marked value that is itself a template action is no site',
      files: new Map([
        [
          'chart/templates/job.yaml',
          'image: "{{ .Values.registry }}/job:1.0.0" # image-watcher: shop/job/job\n{{- end }}\n',
        ],
      ]),
      req: request('shop/Job/job', 'job', 'ghcr.io/acme/job:1.0.0', '1.0.1'),
      want: { code: 'E_EDIT_YAML', message: /^chart\/templates\/job\.yaml:\d+:\d+: not valid YAML/ },
    },
    {
      name: 'only templates: the YAML is the problem',
      files: new Map([['chart/templates/service.yaml', fixture('helm-chart/templates/service.yaml')]]),
      req: request('shop/Deployment/web', 'web', 'ghcr.io/acme/shop:1.4.2', '1.5.0'),
      want: { code: 'E_EDIT_YAML', message: /^chart\/templates\/service\.yaml:11:7: not valid YAML/ },
    },
  ];
  for (const c of cases) {
    if ('code' in c.want) {
      tt.throws(() => editFiles(c.files, c.req), c.want, c.name);
      continue;
    }
    const before = c.files.get(c.want.file)!;
    const r = editFiles(c.files, c.req);
    tt.equal(r.file, c.want.file, c.name);
    tt.same(
      changedLines(before, r.text),
      [{ line: c.want.line, from: before.split('\n')[c.want.line - 1], to: c.want.to }],
      `${c.name}: that one line only`,
    );
    tt.equal(r.site.line, c.want.line);
    // What bump uses: the same site found and set again gives the same text.
    tt.equal(setSiteVersion(before, r.site, c.req.to), r.text, `${c.name}: setSiteVersion agrees`);
  }
  tt.end();
});
