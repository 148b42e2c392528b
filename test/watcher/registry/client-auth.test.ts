import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import { OciRegistryClient } from '../../../watcher/registry/client.ts';
import { RegistryError } from '../../../watcher/registry/errors.ts';
import { buildImage } from '../../support/images.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { startTokenServer } from '../../support/token-server.ts';
import type { TokenServer } from '../../support/token-server.ts';

const USER = 'ci-bot';
const PASSWORD = 'S3cret-Pa55word!';
const IDENTITY_TOKEN = 'refresh-Token-0123456789';
let dir: string;
let basic: RunningRegistry;
let bearer: RunningRegistry;
let tokens: TokenServer;
const digests: Record<string, string> = {};

function basicAuth(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iw-auth-'));
  tokens = await startTokenServer({
    dir,
    users: { [USER]: PASSWORD },
    refreshTokens: { [IDENTITY_TOKEN]: USER },
  });
  [basic, bearer] = await Promise.all([
    startRegistry({ kind: 'htpasswd', users: { [USER]: PASSWORD } }),
    startRegistry({
      kind: 'token',
      realm: tokens.realm,
      service: tokens.service,
      issuer: tokens.issuer,
      rootCertFile: tokens.rootCertFile,
    }),
  ]);
  const pushToken = `Bearer ${tokens.issue(USER, ['repository:app:pull,push'])}`;
  await Promise.all(
    ['1.2.3', '1.3.0', '2.0.0'].map(async (tag) => {
      digests[`basic:${tag}`] = await pushImage(
        basic.url,
        'app',
        [tag],
        buildImage(),
        basicAuth(USER, PASSWORD),
      );
      digests[`bearer:${tag}`] = await pushImage(bearer.url, 'app', [tag], buildImage(), pushToken);
    }),
  );
  tokens.requests.length = 0;
});
t.teardown(async () => {
  await Promise.all([basic?.stop(), bearer?.stop()]);
  await tokens?.close();
  await rm(dir, { recursive: true, force: true });
});

const good = { username: USER, password: PASSWORD };
const wrong = { username: USER, password: 'not-the-password' };

function assertNoSecrets(t: Test, err: unknown): void {
  const text = `${String(err)} ${JSON.stringify(err)} ${(err as Error).stack ?? ''}`;
  for (const secret of [
    PASSWORD,
    'not-the-password',
    IDENTITY_TOKEN,
    Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
  ]) {
    t.notOk(text.includes(secret), 'the error does not contain a secret');
  }
}

t.test('htpasswd basic auth', (t) => {
  const ref = parseImageReference(`${basic.host}/app:1.2.3`);

  t.test('lists tags and digests with the right password', async (t) => {
    const client = new OciRegistryClient();
    t.same((await client.listTags(ref, { credentials: good })).sort(), ['1.2.3', '1.3.0', '2.0.0']);
    t.equal(await client.getDigest(ref, '1.3.0', { credentials: good }), digests['basic:1.3.0']);
  });

  t.test('a wrong password is a clear auth error without the password', async (t) => {
    const client = new OciRegistryClient();
    const err = await client.listTags(ref, { credentials: wrong }).catch((e: unknown) => e);
    t.ok(err instanceof RegistryError);
    t.match(err, {
      code: 'E_REGISTRY_AUTH',
      message: `registry ${basic.host} refused the credentials for app (HTTP 401): check the username/password in DOCKER_CONFIG or imagePullSecrets`,
    });
    assertNoSecrets(t, err);
  });

  t.test('no credentials says they are required', async (t) => {
    const err = await new OciRegistryClient().listTags(ref).catch((e: unknown) => e);
    t.match(err, { code: 'E_REGISTRY_AUTH', message: /requires credentials for app/ });
  });

  t.test('default credentials (DOCKER_CONFIG) are used when the call passes none', async (t) => {
    const client = new OciRegistryClient({
      defaultCredentials: (r) => (r === basic.host ? good : undefined),
    });
    t.equal((await client.listTags(ref)).length, 3);
  });
  t.end();
});

t.test('bearer token auth with a token server', (t) => {
  const ref = parseImageReference(`${bearer.host}/app:1.2.3`);

  t.test('gets a token for the pull scope and caches it until it expires', async (t) => {
    let now = Date.now();
    const client = new OciRegistryClient({ now: () => now });
    tokens.requests.length = 0;
    t.same((await client.listTags(ref, { credentials: good })).sort(), ['1.2.3', '1.3.0', '2.0.0']);
    t.equal(await client.getDigest(ref, '2.0.0', { credentials: good }), digests['bearer:2.0.0']);
    t.equal(await client.getDigest(ref, '1.3.0', { credentials: good }), digests['bearer:1.3.0']);
    t.equal(tokens.requests.length, 1, 'one token for three requests');
    t.same(tokens.requests[0], {
      method: 'GET',
      scopes: ['repository:app:pull'],
      account: USER,
      status: 200,
    });
    now += 300_000; // the server's expires_in
    client.newCycle();
    await client.getDigest(ref, '2.0.0', { credentials: good });
    t.equal(tokens.requests.length, 2, 'an expired token is renewed');
  });

  t.test('an identitytoken uses the OAuth2 refresh_token grant', async (t) => {
    tokens.requests.length = 0;
    const client = new OciRegistryClient();
    t.equal(
      await client.getDigest(ref, '1.2.3', { credentials: { identityToken: IDENTITY_TOKEN } }),
      digests['bearer:1.2.3'],
    );
    t.match(tokens.requests, [{ method: 'POST', account: USER, status: 200 }]);
  });

  t.test('a wrong password is refused by the token server with a clear error', async (t) => {
    const err = await new OciRegistryClient().listTags(ref, { credentials: wrong }).catch((e: unknown) => e);
    t.match(err, {
      code: 'E_REGISTRY_AUTH',
      message: `registry ${bearer.host} refused the credentials for app (HTTP 401): check the username/password in DOCKER_CONFIG or imagePullSecrets`,
    });
    assertNoSecrets(t, err);
  });

  t.test('anonymous callers get a token without access and a clear error', async (t) => {
    const err = await new OciRegistryClient().listTags(ref).catch((e: unknown) => e);
    t.match(err, { code: 'E_REGISTRY_AUTH', message: /requires credentials for app/ });
  });
  t.end();
});
