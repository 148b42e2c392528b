import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  credentialsFor,
  DockerConfigError,
  readDockerConfig,
} from '../../../watcher/registry/credentials.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const CONFIG = {
  auths: {
    'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass:with:colons') },
    'ghcr.io': { username: 'gh', password: 'ghp_token' },
    'http://127.0.0.1:5000/v2/': { auth: b64('local:pw') },
    'registry.example.com:8443': { identitytoken: 'refresh-me' },
    'empty.example.com': { auth: '' },
    'MixedCase.Example.com': { auth: b64('mixed:pw') },
  },
};

t.test('credentials from a Docker config.json', (t) => {
  const cases = [
    {
      name: 'docker.io matches the https://index.docker.io/v1/ key; the password keeps its colons',
      input: 'docker.io',
      want: { username: 'hubuser', password: 'hub:pass:with:colons' },
    },
    {
      name: 'username and password fields',
      input: 'ghcr.io',
      want: { username: 'gh', password: 'ghp_token' },
    },
    {
      name: 'a key with scheme and path',
      input: '127.0.0.1:5000',
      want: { username: 'local', password: 'pw' },
    },
    { name: 'an identity token', input: 'registry.example.com:8443', want: { identityToken: 'refresh-me' } },
    {
      name: 'keys match case-insensitively',
      input: 'mixedcase.example.com',
      want: { username: 'mixed', password: 'pw' },
    },
    { name: 'an entry without usable credentials', input: 'empty.example.com', want: undefined },
    { name: 'an unknown registry', input: 'quay.io', want: undefined },
    { name: 'the port is part of the key', input: '127.0.0.1:5001', want: undefined },
  ];
  for (const c of cases) t.same(credentialsFor(c.input, CONFIG), c.want, c.name);
  t.end();
});

t.test('a kubernetes.io/dockerconfigjson secret and a legacy .dockercfg', (t) => {
  t.same(credentialsFor('docker.io', { auths: { 'docker.io': { username: 'u', password: 'p' } } }), {
    username: 'u',
    password: 'p',
  });
  t.same(
    credentialsFor('quay.io', { 'https://quay.io': { auth: b64('q:w') } }),
    { username: 'q', password: 'w' },
    'legacy: hosts at the top',
  );
  for (const bad of [undefined, null, 'text', [], { auths: 'x' }, { auths: { 'quay.io': 'x' } }]) {
    t.equal(
      credentialsFor('quay.io', bad),
      undefined,
      `garbage (${JSON.stringify(bad)}) gives no credentials`,
    );
  }
  t.end();
});

t.test('reading config.json from DOCKER_CONFIG', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'iw-dockercfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal(await readDockerConfig(dir), undefined, 'a missing file means no credentials');
  await writeFile(join(dir, 'config.json'), JSON.stringify(CONFIG));
  t.same(credentialsFor('ghcr.io', await readDockerConfig(dir)), { username: 'gh', password: 'ghp_token' });
  await writeFile(join(dir, 'config.json'), '{"auths": {"x": {"auth": "c2VjcmV0"}}');
  const err = await readDockerConfig(dir).catch((e: unknown) => e);
  t.ok(err instanceof DockerConfigError);
  t.match(err, { code: 'E_DOCKER_CONFIG', message: /config\.json is not valid JSON/ });
  t.notMatch((err as Error).message, /c2VjcmV0/, 'the content is never quoted');
});
