import t from 'tap';
import {
  fetchReleaseNotes,
  htmlToText,
  ReleaseNotesCache,
  trimBody,
} from '../../../watcher/release-notes/fetch.ts';
import type { ReleaseNotes } from '../../../watcher/release-notes/fetch.ts';
import { ReleaseNotesError } from '../../../watcher/release-notes/ssrf.ts';
import { startServer } from './helpers.ts';
import type { FakeServer } from './helpers.ts';

const TOKEN = 'ghp_TESTTOKEN1234567890';

/** A fake of GitHub's "get a release by tag name" endpoint plus plain pages. */
async function fakeGithub(): Promise<FakeServer> {
  return startServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    switch (req.url) {
      case '/repos/traefik/traefik/releases/tags/v3.1.2':
        return json(200, {
          tag_name: 'v3.1.2',
          name: 'v3.1.2 (pecorino)',
          html_url: `http://${req.headers.host}/traefik/traefik/releases/tag/v3.1.2`,
          body: '## Bug fixes\r\n- **[k8s]** fix ingress status\r\n',
        });
      case '/repos/org/app/releases/tags/phish':
        return json(200, { name: 'phish', body: 'x', html_url: 'https://github.com.evil.example/login' });
      case '/repos/org/app/releases/tags/2.0.0':
        return json(200, {
          tag_name: '2.0.0',
          name: '',
          body: 'x'.repeat(10_000),
          html_url: 'javascript:alert(1)',
        });
      case '/repos/org/app/releases/tags/private':
        return json(req.headers.authorization ? 403 : 401, { message: 'Bad credentials' });
      case '/repos/org/app/releases/tags/array':
        return json(200, []);
      case '/repos/org/app/releases/tags/broken':
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"name": ');
      case '/notes.md':
        res.writeHead(200, { 'content-type': 'text/markdown' });
        return res.end(`# 1.2.0\n\n* faster\n* authorization=${req.headers.authorization ?? 'none'}\n`);
      case '/notes.html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        return res.end(
          '<html><head><title>Release 1.2 &amp; more</title><style>p{color:red}</style></head>' +
            '<body><script>alert(1)</script><h1>1.2</h1><p>Fixes &lt;b&gt; &#x41; &#66;</p><ul><li>one</li><li>two</li></ul></body></html>',
        );
      case '/image.png':
        res.writeHead(200, { 'content-type': 'image/png' });
        return res.end('PNG');
      default:
        return json(404, { message: 'Not Found' });
    }
  });
}

function options(server: FakeServer, extra: Record<string, unknown> = {}) {
  return { allowPrivate: true, githubApiHosts: [`127.0.0.1:${server.port}`], ...extra };
}

async function failure(p: Promise<unknown>): Promise<ReleaseNotesError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ReleaseNotesError))
    throw new Error(`expected a ReleaseNotesError, got ${String(err)}`);
  return err;
}

t.test('a GitHub release is read from the API with the token', async (t) => {
  const gh = await fakeGithub();
  t.teardown(() => gh.close());
  const notes = await fetchReleaseNotes(
    `${gh.origin}/repos/traefik/traefik/releases/tags/v3.1.2`,
    options(gh, { githubToken: TOKEN }),
  );
  t.same(notes, {
    url: `${gh.origin}/traefik/traefik/releases/tag/v3.1.2`,
    title: 'v3.1.2 (pecorino)',
    body: '## Bug fixes\n- **[k8s]** fix ingress status',
  });
  const req = gh.requests[0];
  t.equal(req?.headers.authorization, `Bearer ${TOKEN}`, 'token sent as Bearer');
  t.equal(req?.headers.accept, 'application/vnd.github+json');
  t.equal(req?.headers['x-github-api-version'], '2022-11-28');
  t.equal(req?.headers['user-agent'], 'image-watcher', 'GitHub requires a user agent');
});

t.test('without a token no authorization header is sent', async (t) => {
  const gh = await fakeGithub();
  t.teardown(() => gh.close());
  await fetchReleaseNotes(`${gh.origin}/repos/traefik/traefik/releases/tags/v3.1.2`, options(gh));
  t.equal(gh.requests[0]?.headers.authorization, undefined);
});

t.test('the token is never sent to hosts that are not the GitHub API', async (t) => {
  const gh = await fakeGithub();
  t.teardown(() => gh.close());
  const notes = await fetchReleaseNotes(`${gh.origin}/notes.md`, { allowPrivate: true, githubToken: TOKEN });
  t.equal(notes.body, '# 1.2.0\n\n* faster\n* authorization=none');
  t.equal(notes.url, `${gh.origin}/notes.md`);
});

t.test('a long body is trimmed and an unsafe page link is replaced', async (t) => {
  const gh = await fakeGithub();
  t.teardown(() => gh.close());
  const url = `${gh.origin}/repos/org/app/releases/tags/2.0.0`;
  const notes = await fetchReleaseNotes(url, options(gh, { maxBodyChars: 500 }));
  t.equal(notes.body.length, 500);
  t.ok(notes.body.endsWith('…'));
  t.equal(notes.title, '2.0.0', 'the tag when the release has no name');
  t.equal(notes.url, url, 'a javascript: link is not passed on');
});

t.test('a foreign html_url is not passed on: only the notes host or the forge page', async (t) => {
  const gh = await fakeGithub();
  t.teardown(() => gh.close());
  const url = `${gh.origin}/repos/org/app/releases/tags/phish`;
  const notes = await fetchReleaseNotes(url, options(gh));
  t.equal(notes.url, url, 'the link is where the notes came from, not the foreign page');
});

t.test('GitHub errors are typed and name what to do, without the token', async (t) => {
  const gh = await fakeGithub();
  t.teardown(() => gh.close());
  const base = `${gh.origin}/repos/org/app/releases/tags`;
  const missing = await failure(fetchReleaseNotes(`${base}/9.9.9`, options(gh)));
  t.equal(missing.code, 'E_NOTES_NOT_FOUND');
  t.equal(missing.status, 404);
  const denied = await failure(fetchReleaseNotes(`${base}/private`, options(gh, { githubToken: TOKEN })));
  t.equal(denied.code, 'E_NOTES_HTTP');
  t.match(denied.message, /answered 403; check that GITHUB_TOKEN is valid/);
  t.notMatch(denied.message, TOKEN);
  const anonymous = await failure(fetchReleaseNotes(`${base}/private`, options(gh)));
  t.match(anonymous.message, /answered 401; set GITHUB_TOKEN/);
  const broken = await failure(fetchReleaseNotes(`${base}/broken`, options(gh)));
  t.match(broken.message, /did not send valid JSON/);
  const array = await failure(fetchReleaseNotes(`${base}/array`, options(gh)));
  t.match(array.message, /did not send a release object/);
  const big = await failure(
    fetchReleaseNotes(`${gh.origin}/repos/org/app/releases/tags/2.0.0`, options(gh, { maxBytes: 1000 })),
  );
  t.match(big.message, /larger than the size limit/);
});

t.test('HTML pages are reduced to text and other types refused', async (t) => {
  const gh = await fakeGithub();
  t.teardown(() => gh.close());
  const notes = await fetchReleaseNotes(`${gh.origin}/notes.html`, { allowPrivate: true });
  t.equal(notes.title, 'Release 1.2 & more');
  t.equal(notes.body, '1.2\nFixes <b> A B\n\n- one\n- two');
  const png = await failure(fetchReleaseNotes(`${gh.origin}/image.png`, { allowPrivate: true }));
  t.equal(png.code, 'E_NOTES_RESPONSE');
  t.match(png.message, /sent image\/png, not text release notes/);
});

t.test('the SSRF guard applies: a local server is refused unless private targets are allowed', async (t) => {
  const gh = await fakeGithub();
  t.teardown(() => gh.close());
  const err = await failure(fetchReleaseNotes(`${gh.origin}/notes.md`));
  t.equal(err.code, 'E_NOTES_BLOCKED');
  t.equal(gh.requests.length, 0);
});

t.test('notes are cached per URL; concurrent calls share one request; failures are not kept', async (t) => {
  const gh = await fakeGithub();
  t.teardown(() => gh.close());
  let now = 0;
  const cache = new ReleaseNotesCache({ ttlMs: 1000, now: () => now });
  const url = `${gh.origin}/repos/traefik/traefik/releases/tags/v3.1.2`;
  const [a, b] = await Promise.all([
    fetchReleaseNotes(url, options(gh, { cache })),
    fetchReleaseNotes(url, options(gh, { cache })),
  ]);
  t.same(a, b);
  t.equal(gh.requests.length, 1, 'one request for two concurrent calls');
  await fetchReleaseNotes(url, options(gh, { cache }));
  t.equal(gh.requests.length, 1, 'served from the cache');
  now = 1000;
  await fetchReleaseNotes(url, options(gh, { cache }));
  t.equal(gh.requests.length, 2, 'fetched again after the TTL');

  const missing = `${gh.origin}/repos/org/app/releases/tags/0.0.0`;
  await failure(fetchReleaseNotes(missing, options(gh, { cache })));
  await failure(fetchReleaseNotes(missing, options(gh, { cache })));
  t.equal(gh.requests.length, 4, 'a failure is asked again');
});

t.test('the cache holds a bounded number of entries', (t) => {
  const cache = new ReleaseNotesCache({ maxEntries: 2 });
  const notes = (n: string): Promise<ReleaseNotes> => Promise.resolve({ url: n, body: n });
  cache.set('a', notes('a'));
  cache.set('b', notes('b'));
  cache.set('c', notes('c'));
  t.equal(cache.size, 2);
  t.equal(cache.get('a'), undefined, 'the oldest went first');
  t.ok(cache.get('c'));
  t.end();
});

t.test('HTML to text', (t) => {
  const cases: { name: string; input: string; want: string }[] = [
    { name: 'tags are removed', input: '<b>bold</b> text', want: 'bold text' },
    { name: 'paragraphs become lines', input: '<p>one</p><p>two</p>', want: 'one\ntwo' },
    { name: 'scripts and styles vanish', input: '<script>x()</script><style>.a{}</style>ok', want: 'ok' },
    { name: 'comments vanish', input: 'a<!-- secret -->b', want: 'ab' },
    {
      name: 'entities are decoded',
      input: '&lt;tag&gt; &quot;q&quot; &#39;s&#39; &nbsp;x &unknown;',
      want: `<tag> "q" 's' x &unknown;`,
    },
    { name: 'runs of blank lines collapse', input: '<p>a</p><br><br><br><br><p>b</p>', want: 'a\n\nb' },
  ];
  for (const c of cases) t.equal(htmlToText(c.input), c.want, c.name);
  t.end();
});

t.test('trimming keeps short text and cuts long text at a boundary', (t) => {
  t.equal(trimBody('  short\r\n', 100), 'short');
  t.equal(trimBody('word '.repeat(50), 100), `${'word '.repeat(19).trim()}…`);
  t.equal(trimBody('x'.repeat(200), 100), `${'x'.repeat(99)}…`);
  t.end();
});
