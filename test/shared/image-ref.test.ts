import t from 'tap';
import {
  InvalidImageReferenceError,
  canonicalName,
  familiarString,
  imageWithTag,
  parseImageReference,
} from '../../shared/image-ref.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { ImageWatcherError } from '../../shared/errors.ts';

const SHA = 'sha256:' + 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';
const SHA512 = 'sha512:' + 'ab'.repeat(64);
const SHA384 = 'sha384:' + 'cd'.repeat(48);

type Want = Omit<ImageReference, 'original'>;
const valid: { name: string; input: string; want: Want }[] = [
  {
    name: 'a bare official image is on Docker Hub under library/ with tag latest',
    input: 'nginx',
    want: {
      name: 'nginx',
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: 'latest',
      digest: undefined,
    },
  },
  {
    name: 'an official image with a tag keeps the tag',
    input: 'nginx:1.25.3',
    want: {
      name: 'nginx',
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: '1.25.3',
      digest: undefined,
    },
  },
  {
    name: 'a Docker Hub user image is not put under library/',
    input: 'grafana/grafana:10.2.3',
    want: {
      name: 'grafana/grafana',
      registry: 'docker.io',
      repository: 'grafana/grafana',
      tag: '10.2.3',
      digest: undefined,
    },
  },
  {
    name: 'an explicit docker.io official image gets library/',
    input: 'docker.io/nginx:1.25',
    want: {
      name: 'docker.io/nginx',
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: '1.25',
      digest: undefined,
    },
  },
  {
    name: 'an explicit docker.io/library path stays as it is',
    input: 'docker.io/library/redis:7.2.4-alpine',
    want: {
      name: 'docker.io/library/redis',
      registry: 'docker.io',
      repository: 'library/redis',
      tag: '7.2.4-alpine',
      digest: undefined,
    },
  },
  {
    name: 'the legacy index.docker.io host is normalised to docker.io',
    input: 'index.docker.io/library/postgres:16',
    want: {
      name: 'index.docker.io/library/postgres',
      registry: 'docker.io',
      repository: 'library/postgres',
      tag: '16',
      digest: undefined,
    },
  },
  {
    name: 'index.docker.io with a single path component gets library/',
    input: 'index.docker.io/busybox',
    want: {
      name: 'index.docker.io/busybox',
      registry: 'docker.io',
      repository: 'library/busybox',
      tag: 'latest',
      digest: undefined,
    },
  },
  {
    name: 'registry-1.docker.io is a different host name and is kept',
    input: 'registry-1.docker.io/library/nginx',
    want: {
      name: 'registry-1.docker.io/library/nginx',
      registry: 'registry-1.docker.io',
      repository: 'library/nginx',
      tag: 'latest',
      digest: undefined,
    },
  },
  {
    name: 'a GitHub container registry image with a v tag',
    input: 'ghcr.io/traefik/traefik:v3.0.0',
    want: {
      name: 'ghcr.io/traefik/traefik',
      registry: 'ghcr.io',
      repository: 'traefik/traefik',
      tag: 'v3.0.0',
      digest: undefined,
    },
  },
  {
    name: 'a registry with a port and a nested path',
    input: 'host:5000/a/b:tag',
    want: { name: 'host:5000/a/b', registry: 'host:5000', repository: 'a/b', tag: 'tag', digest: undefined },
  },
  {
    name: 'localhost is a registry even without a port',
    input: 'localhost/app',
    want: {
      name: 'localhost/app',
      registry: 'localhost',
      repository: 'app',
      tag: 'latest',
      digest: undefined,
    },
  },
  {
    name: 'localhost with a port is a registry',
    input: 'localhost:5000/team/app:1.0',
    want: {
      name: 'localhost:5000/team/app',
      registry: 'localhost:5000',
      repository: 'team/app',
      tag: '1.0',
      digest: undefined,
    },
  },
  {
    name: 'a bare localhost:5000 is the Docker Hub image localhost with tag 5000, as in Docker',
    input: 'localhost:5000',
    want: {
      name: 'localhost',
      registry: 'docker.io',
      repository: 'library/localhost',
      tag: '5000',
      digest: undefined,
    },
  },
  {
    name: 'an IPv4 registry address counts as a host because it contains dots',
    input: '10.0.0.7:5000/app:2.1',
    want: {
      name: '10.0.0.7:5000/app',
      registry: '10.0.0.7:5000',
      repository: 'app',
      tag: '2.1',
      digest: undefined,
    },
  },
  {
    name: 'an IPv6 loopback registry with a port',
    input: '[::1]:5000/app:v1',
    want: { name: '[::1]:5000/app', registry: '[::1]:5000', repository: 'app', tag: 'v1', digest: undefined },
  },
  {
    name: 'an IPv6 registry without a port',
    input: '[2001:db8::1]/team/app',
    want: {
      name: '[2001:db8::1]/team/app',
      registry: '[2001:db8::1]',
      repository: 'team/app',
      tag: 'latest',
      digest: undefined,
    },
  },
  {
    name: 'a digest-only reference has no tag',
    input: `nginx@${SHA}`,
    want: { name: 'nginx', registry: 'docker.io', repository: 'library/nginx', tag: undefined, digest: SHA },
  },
  {
    name: 'a tag and a digest together keep both',
    input: `nginx:1.25.3@${SHA}`,
    want: { name: 'nginx', registry: 'docker.io', repository: 'library/nginx', tag: '1.25.3', digest: SHA },
  },
  {
    name: 'a registry with a port, a tag and a digest',
    input: `registry.example.com:8443/org/app:2.0.1@${SHA}`,
    want: {
      name: 'registry.example.com:8443/org/app',
      registry: 'registry.example.com:8443',
      repository: 'org/app',
      tag: '2.0.1',
      digest: SHA,
    },
  },
  {
    name: 'a sha512 digest is accepted',
    input: `ghcr.io/org/app@${SHA512}`,
    want: {
      name: 'ghcr.io/org/app',
      registry: 'ghcr.io',
      repository: 'org/app',
      tag: undefined,
      digest: SHA512,
    },
  },
  {
    name: 'a sha384 digest is accepted',
    input: `quay.io/org/app@${SHA384}`,
    want: {
      name: 'quay.io/org/app',
      registry: 'quay.io',
      repository: 'org/app',
      tag: undefined,
      digest: SHA384,
    },
  },
  {
    name: 'path components may use dots, underscores, double underscores and dashes',
    input: 'quay.io/my.org/my_app__x--y-z:1',
    want: {
      name: 'quay.io/my.org/my_app__x--y-z',
      registry: 'quay.io',
      repository: 'my.org/my_app__x--y-z',
      tag: '1',
      digest: undefined,
    },
  },
  {
    name: 'a deep path on a cloud registry',
    input: 'europe-west1-docker.pkg.dev/project-1/repo/team/service:2024.01.15',
    want: {
      name: 'europe-west1-docker.pkg.dev/project-1/repo/team/service',
      registry: 'europe-west1-docker.pkg.dev',
      repository: 'project-1/repo/team/service',
      tag: '2024.01.15',
      digest: undefined,
    },
  },
  {
    name: 'an ECR registry host with many dots',
    input: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1.2.3',
    want: {
      name: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app',
      registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      repository: 'app',
      tag: 'v1.2.3',
      digest: undefined,
    },
  },
  {
    name: 'a tag may contain upper case, underscores, dots and dashes',
    input: 'eclipse-temurin:17.0.9_9-JDK.x',
    want: {
      name: 'eclipse-temurin',
      registry: 'docker.io',
      repository: 'library/eclipse-temurin',
      tag: '17.0.9_9-JDK.x',
      digest: undefined,
    },
  },
  {
    name: 'a tag may start with an underscore',
    input: 'app:_internal',
    want: {
      name: 'app',
      registry: 'docker.io',
      repository: 'library/app',
      tag: '_internal',
      digest: undefined,
    },
  },
  {
    name: 'a tag of exactly 128 characters is accepted',
    input: `app:${'a'.repeat(128)}`,
    want: {
      name: 'app',
      registry: 'docker.io',
      repository: 'library/app',
      tag: 'a'.repeat(128),
      digest: undefined,
    },
  },
  {
    name: 'a host name with upper case letters is a registry, as Docker treats it',
    input: 'Registry.Example.com/app',
    want: {
      name: 'Registry.Example.com/app',
      registry: 'Registry.Example.com',
      repository: 'app',
      tag: 'latest',
      digest: undefined,
    },
  },
  {
    name: 'an upper case first component without dots is taken as a host, as Docker does',
    input: 'Myhost/app',
    want: { name: 'Myhost/app', registry: 'Myhost', repository: 'app', tag: 'latest', digest: undefined },
  },
  {
    name: 'a Docker Hub namespace with digits and dashes',
    input: 'bitnami/postgresql:16.1.0-debian-11-r20',
    want: {
      name: 'bitnami/postgresql',
      registry: 'docker.io',
      repository: 'bitnami/postgresql',
      tag: '16.1.0-debian-11-r20',
      digest: undefined,
    },
  },
  {
    name: 'a single-letter host with a port is a registry',
    input: 'r:443/a',
    want: { name: 'r:443/a', registry: 'r:443', repository: 'a', tag: 'latest', digest: undefined },
  },
];

for (const c of valid) {
  t.test(c.name, (t) => {
    const ref = parseImageReference(c.input);
    t.same(ref, { original: c.input, ...c.want });
    t.end();
  });
}

const invalid: { name: string; input: string; want: RegExp }[] = [
  { name: 'an empty reference is refused', input: '', want: /image reference is empty/ },
  {
    name: 'an upper case repository is refused with the repository named',
    input: 'Nginx',
    want: /repository name must be lowercase: 'Nginx'/,
  },
  {
    name: 'upper case in a nested repository path is refused',
    input: 'ghcr.io/Org/app:1',
    want: /repository name must be lowercase: 'Org\/app'/,
  },
  {
    name: 'upper case after a lower case namespace on Docker Hub is refused',
    input: 'grafana/Grafana',
    want: /repository name must be lowercase: 'grafana\/Grafana'/,
  },
  {
    name: 'a truncated sha256 digest is refused, saying how long it must be',
    input: 'nginx@sha256:abc',
    want: /digest 'sha256:abc' is not a valid sha256 digest \(64 hex characters\)/,
  },
  {
    name: 'a sha256 digest one character too long is refused',
    input: `nginx@${SHA}0`,
    want: /not a valid sha256 digest/,
  },
  {
    name: 'a digest with non-hex characters is refused',
    input: `nginx@sha256:${'g'.repeat(64)}`,
    want: /not a valid sha256 digest/,
  },
  {
    name: 'a digest in upper case hex is refused',
    input: `nginx@sha256:${'A'.repeat(64)}`,
    want: /must use lowercase hex/,
  },
  {
    name: 'an unknown digest algorithm is refused with the supported ones',
    input: `nginx@md5:${'a'.repeat(32)}`,
    want: /digest algorithm 'md5' is not supported \(sha256, sha384, sha512\)/,
  },
  {
    name: 'a digest without an algorithm is refused',
    input: 'nginx@abcdef',
    want: /must look like 'sha256:/,
  },
  { name: 'an @ with nothing after it is refused', input: 'nginx@', want: /digest is empty/ },
  { name: 'two digests are refused', input: `nginx@${SHA}@${SHA}`, want: /not a valid sha256 digest/ },
  { name: 'an empty tag is refused', input: 'nginx:', want: /tag is empty/ },
  {
    name: 'an empty tag before a digest is refused',
    input: `nginx:@${SHA}`,
    want: /tag is empty/,
  },
  {
    name: 'a tag starting with a dot is refused',
    input: 'nginx:.hidden',
    want: /must start with a letter, digit or '_'/,
  },
  {
    name: 'a tag starting with a dash is refused',
    input: 'nginx:-1',
    want: /must start with a letter, digit or '_'/,
  },
  {
    name: 'a tag with a plus sign is refused',
    input: 'app:1.0.0+build',
    want: /may only contain letters, digits/,
  },
  {
    name: 'a tag of 129 characters is refused with its length',
    input: `app:${'a'.repeat(129)}`,
    want: /tag is 129 characters long; the limit is 128/,
  },
  {
    name: 'a repository name over 255 characters is refused',
    input: `registry.example.com/${'a'.repeat(240)}`,
    want: /repository name is 261 characters long; the limit is 255/,
  },
  {
    name: 'a Docker Hub name counts with its docker.io/library/ prefix',
    input: 'a'.repeat(240),
    want: /repository name is 258 characters long/,
  },
  {
    name: 'a huge input is refused before any pattern runs',
    input: 'a'.repeat(100_000),
    want: /image reference is 100000 characters long/,
  },
  { name: 'whitespace is refused', input: 'nginx :1.25', want: /must not contain whitespace/ },
  { name: 'a trailing newline is refused', input: 'nginx:1.25\n', want: /must not contain whitespace/ },
  {
    name: 'a URL is refused with the advice to drop the scheme',
    input: 'https://docker.io/nginx:1.25',
    want: /drop the scheme https:\/\/, an image is named without one \(docker\.io\/nginx:1\.25\)/,
  },
  { name: 'a trailing slash is refused', input: 'ghcr.io/org/', want: /has an empty component/ },
  { name: 'a double slash is refused', input: 'ghcr.io/org//app', want: /has an empty component/ },
  { name: 'a registry with no path is refused', input: 'ghcr.io/', want: /repository path is empty/ },
  {
    name: 'a leading slash is refused',
    input: '/app',
    want: /repository path '\/app' has an empty component/,
  },
  {
    name: 'a path component ending in a separator is refused',
    input: 'org/app-',
    want: /path component 'app-' is invalid/,
  },
  {
    name: 'three underscores are not a separator',
    input: 'org/a___b',
    want: /path component 'a___b' is invalid/,
  },
  {
    name: 'punctuation in a repository is refused',
    input: 'org/app!',
    want: /path component 'app!' is invalid/,
  },
  { name: 'a non-ASCII repository is refused', input: 'ÄÖ', want: /path component 'ÄÖ' is invalid/ },
  {
    name: 'a non-numeric port is refused',
    input: 'host:port/app',
    want: /registry port 'port' must be a number/,
  },
  { name: 'an empty port is refused', input: 'host:/app', want: /registry port '' must be a number/ },
  {
    name: 'a host with an underscore is refused',
    input: 'my_host.io/app',
    want: /registry host 'my_host.io' is invalid/,
  },
  {
    name: 'a host ending in a dash is refused',
    input: 'host-.io/app',
    want: /registry host 'host-.io' is invalid/,
  },
  { name: 'an unclosed IPv6 bracket is refused', input: '[::1/app', want: /unclosed IPv6 bracket/ },
  {
    name: 'an IPv6 address with letters beyond hex is refused',
    input: '[::g]:5000/app',
    want: /not a valid IPv6/,
  },
  { name: 'text after an IPv6 address is refused', input: '[::1]x/app', want: /text after the IPv6 address/ },
  {
    name: 'a bare 64-character image ID is refused',
    input: 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4',
    want: /image ID is not a repository name/,
  },
  { name: 'a name that is only a tag is refused', input: ':1.0', want: /repository name is empty/ },
];

for (const c of invalid) {
  t.test(c.name, (t) => {
    const err = t.throws(() => parseImageReference(c.input));
    t.ok(err instanceof InvalidImageReferenceError, 'is an InvalidImageReferenceError');
    t.ok(err instanceof ImageWatcherError, 'is an ImageWatcherError');
    if (err instanceof InvalidImageReferenceError) {
      t.equal(err.code, 'E_IMAGE_REF');
      t.match(err.message, c.want);
      t.match(err.problem, c.want);
      t.ok(err.message.length < 400, 'the message stays readable');
    }
    t.end();
  });
}

t.test('a value that is not a string is refused, not crashed on', (t) => {
  t.throws(() => parseImageReference(undefined as unknown as string), InvalidImageReferenceError);
  t.throws(() => parseImageReference(42 as unknown as string), InvalidImageReferenceError);
  t.end();
});

t.test('a long bad input is shortened in the message', (t) => {
  const err = t.throws(() => parseImageReference(`org/${'x'.repeat(300)}!`));
  t.ok(err instanceof InvalidImageReferenceError);
  if (err instanceof InvalidImageReferenceError) t.ok(err.reference.length <= 80, 'reference shortened');
  t.end();
});

const withTag: { name: string; input: { ref: string; tag: string; digest?: string }; want: string }[] = [
  {
    name: 'a new tag replaces the old one and keeps the name as written',
    input: { ref: 'nginx:1.25', tag: '1.27' },
    want: 'nginx:1.27',
  },
  {
    name: 'a registry with a port keeps its port',
    input: { ref: 'localhost:5000/app:1.0', tag: '1.1' },
    want: 'localhost:5000/app:1.1',
  },
  {
    name: 'a digest is appended when given',
    input: { ref: 'ghcr.io/org/app:v1', tag: 'v2', digest: SHA },
    want: `ghcr.io/org/app:v2@${SHA}`,
  },
  {
    name: 'a digest-only reference becomes a tagged reference',
    input: { ref: `nginx@${SHA}`, tag: '1.25.3' },
    want: 'nginx:1.25.3',
  },
  {
    name: 'the legacy index.docker.io spelling is kept as written',
    input: { ref: 'index.docker.io/library/nginx:1', tag: '2' },
    want: 'index.docker.io/library/nginx:2',
  },
  {
    name: 'an IPv6 registry keeps its brackets',
    input: { ref: '[::1]:5000/app:v1', tag: 'v2' },
    want: '[::1]:5000/app:v2',
  },
];

for (const c of withTag) {
  t.test(c.name, (t) => {
    t.equal(imageWithTag(parseImageReference(c.input.ref), c.input.tag, c.input.digest), c.want);
    t.end();
  });
}

t.test('imageWithTag refuses a tag or digest that would make an invalid image', (t) => {
  const ref = parseImageReference('nginx:1.25');
  t.throws(() => imageWithTag(ref, ''), { code: 'E_IMAGE_REF', message: /tag is empty/ });
  t.throws(() => imageWithTag(ref, 'a b'), { code: 'E_IMAGE_REF' });
  t.throws(() => imageWithTag(ref, '1.0', 'sha256:abc'), { code: 'E_IMAGE_REF', message: /64 hex/ });
  t.end();
});

const names: { name: string; input: string; want: { canonical: string; familiar: string } }[] = [
  {
    name: 'an official image is fully qualified',
    input: 'nginx:1.25',
    want: { canonical: 'docker.io/library/nginx', familiar: 'docker.io/library/nginx:1.25' },
  },
  {
    name: 'an image without a tag shows latest',
    input: 'nginx',
    want: { canonical: 'docker.io/library/nginx', familiar: 'docker.io/library/nginx:latest' },
  },
  {
    name: 'a digest-only image shows its digest',
    input: `ghcr.io/org/app@${SHA}`,
    want: { canonical: 'ghcr.io/org/app', familiar: `ghcr.io/org/app@${SHA}` },
  },
  {
    name: 'tag and digest both show',
    input: `ghcr.io/org/app:v1@${SHA}`,
    want: { canonical: 'ghcr.io/org/app', familiar: `ghcr.io/org/app:v1@${SHA}` },
  },
  {
    name: 'the legacy Docker Hub host gives the same canonical name as the short form',
    input: 'index.docker.io/nginx:1.25',
    want: { canonical: 'docker.io/library/nginx', familiar: 'docker.io/library/nginx:1.25' },
  },
];

for (const c of names) {
  t.test(c.name, (t) => {
    const ref = parseImageReference(c.input);
    t.equal(canonicalName(ref), c.want.canonical);
    t.equal(familiarString(ref), c.want.familiar);
    t.end();
  });
}

t.test('the familiar string of a parsed reference parses back to the same canonical reference', (t) => {
  for (const c of valid) {
    const ref = parseImageReference(c.input);
    const again = parseImageReference(familiarString(ref));
    t.equal(canonicalName(again), canonicalName(ref), c.input);
    t.equal(again.tag, ref.tag, `${c.input} tag`);
    t.equal(again.digest, ref.digest, `${c.input} digest`);
  }
  t.end();
});
