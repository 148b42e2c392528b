import t from 'tap';
import {
  expandReleaseUrl,
  githubReleaseUrls,
  githubRepository,
  locate,
  releaseNotesLocation,
  SOURCE_LABEL,
} from '../../../watcher/release-notes/url.ts';

t.test('the tag placeholder is replaced, encoded, everywhere', (t) => {
  t.equal(
    expandReleaseUrl('https://api.github.com/repos/traefik/traefik/releases/tags/${tag}', 'v3.1.2'),
    'https://api.github.com/repos/traefik/traefik/releases/tags/v3.1.2',
  );
  t.equal(expandReleaseUrl('https://x/${tag}/${tag}.md', '1.0'), 'https://x/1.0/1.0.md');
  t.equal(expandReleaseUrl('https://x/${tag}', '1.0+build'), 'https://x/1.0%2Bbuild', 'a plus is encoded');
  t.equal(expandReleaseUrl('https://x/notes', '1.0'), 'https://x/notes', 'no placeholder, no change');
  t.end();
});

const sources: { name: string; input: string; want: { owner: string; repo: string } | undefined }[] = [
  {
    name: 'an https repository URL',
    input: 'https://github.com/traefik/traefik',
    want: { owner: 'traefik', repo: 'traefik' },
  },
  {
    name: 'a URL ending in .git',
    input: 'https://github.com/grafana/grafana.git',
    want: { owner: 'grafana', repo: 'grafana' },
  },
  {
    name: 'a URL with a trailing slash',
    input: 'https://github.com/org/app/',
    want: { owner: 'org', repo: 'app' },
  },
  {
    name: 'a URL into a folder of the repository',
    input: 'https://github.com/docker-library/postgres/tree/master/16',
    want: { owner: 'docker-library', repo: 'postgres' },
  },
  { name: 'an ssh remote', input: 'git@github.com:org/app.git', want: { owner: 'org', repo: 'app' } },
  {
    name: 'a git+https remote',
    input: 'git+https://github.com/org/app.git',
    want: { owner: 'org', repo: 'app' },
  },
  { name: 'a URL without a scheme', input: 'github.com/org/my.app', want: { owner: 'org', repo: 'my.app' } },
  { name: 'a GitLab URL is not GitHub', input: 'https://gitlab.com/org/app', want: undefined },
  { name: 'a look-alike host is not GitHub', input: 'https://github.com.evil.io/org/app', want: undefined },
  { name: 'a user page without repository is not enough', input: 'https://github.com/org', want: undefined },
];

t.test('GitHub repositories are recognised in source labels', (t) => {
  for (const c of sources) t.same(githubRepository(c.input), c.want, c.name);
  t.end();
});

t.test('release URLs are derived from a source label', (t) => {
  t.same(githubReleaseUrls('https://github.com/traefik/traefik', 'v3.1.2'), {
    fetchUrl: 'https://api.github.com/repos/traefik/traefik/releases/tags/v3.1.2',
    htmlUrl: 'https://github.com/traefik/traefik/releases/tag/v3.1.2',
  });
  t.equal(githubReleaseUrls('https://example.com/x/y', '1'), undefined);
  t.end();
});

t.test('an API release URL is shown to people as its page, and a page is fetched through the API', (t) => {
  t.same(locate('https://api.github.com/repos/o/r/releases/tags/v1'), {
    fetchUrl: 'https://api.github.com/repos/o/r/releases/tags/v1',
    htmlUrl: 'https://github.com/o/r/releases/tag/v1',
  });
  t.same(locate('https://github.com/o/r/releases/tag/v1'), {
    fetchUrl: 'https://api.github.com/repos/o/r/releases/tags/v1',
    htmlUrl: 'https://github.com/o/r/releases/tag/v1',
  });
  t.same(locate('https://notes.example.com/1.0.md'), {
    fetchUrl: 'https://notes.example.com/1.0.md',
    htmlUrl: 'https://notes.example.com/1.0.md',
  });
  t.end();
});

t.test('the annotation wins over the label, the label is used without it', (t) => {
  const labels = { [SOURCE_LABEL]: 'https://github.com/org/app' };
  t.equal(
    releaseNotesLocation('https://notes.example.com/${tag}', labels, '2.0')?.fetchUrl,
    'https://notes.example.com/2.0',
  );
  t.equal(
    releaseNotesLocation(undefined, labels, '2.0')?.fetchUrl,
    'https://api.github.com/repos/org/app/releases/tags/2.0',
  );
  t.equal(releaseNotesLocation('', labels, '2.0')?.htmlUrl, 'https://github.com/org/app/releases/tag/2.0');
  t.equal(releaseNotesLocation(undefined, {}, '2.0'), undefined, 'no label, no notes');
  t.equal(releaseNotesLocation(undefined, undefined, '2.0'), undefined);
  t.end();
});
