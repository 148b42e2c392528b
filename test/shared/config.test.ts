import t from 'tap';
import { DEFAULTS, loadConfig, redactConfig } from '../../shared/config.ts';
import type { Config } from '../../shared/config.ts';
import { ConfigError } from '../../shared/env.ts';

const BASE = { HOME: '/home/watcher' };

t.test('an empty environment gives the contract defaults', (t) => {
  const c = loadConfig(BASE);
  t.same(c, {
    overrides: { mode: undefined, strategy: undefined },
    runOnBoot: false,
    checkIntervalMs: 3_600_000,
    logLevel: 'info',
    nodeEnv: 'production',
    githubToken: undefined,
    openAi: undefined,
    httpPort: 8080,
    webhookPort: 8443,
    listenAddress: '0.0.0.0',
    tlsCertFile: undefined,
    tlsKeyFile: undefined,
    dockerConfigDir: '/home/watcher/.docker',
    insecureRegistries: [],
    watchNamespaces: [],
    watcherServiceAccounts: ['system:serviceaccount:image-watcher:image-watcher-watcher'],
    leaderElection: true,
    leaseName: DEFAULTS.leaseName,
    podName: 'image-watcher',
    podNamespace: 'image-watcher',
    publicUrl: undefined,
    approvalSecret: undefined,
    registryConcurrency: 4,
    registryCacheTtlMs: 300_000,
    registryListTimeoutMs: 120_000,
    registryTrustedHosts: [],
    rolloutTimeoutMs: 600_000,
    releaseNotesAllowPrivate: false,
  } satisfies Config);
  t.end();
});

t.test('loadConfig reads process.env when given nothing', (t) => {
  t.ok(typeof loadConfig().httpPort === 'number');
  t.end();
});

const readings: { name: string; env: Record<string, string>; want: Partial<Config> }[] = [
  {
    name: 'the mode override is read case-insensitively',
    env: { IMAGE_WATCHER_MODE: 'auto_update' },
    want: { overrides: { mode: 'AUTO_UPDATE', strategy: undefined } },
  },
  {
    name: 'the strategy override is read case-insensitively',
    env: { IMAGE_WATCHER_STRATEGY: 'Minor' },
    want: { overrides: { mode: undefined, strategy: 'MINOR' } },
  },
  {
    name: 'RUN_ON_BOOT TRUE turns the first check on',
    env: { RUN_ON_BOOT: 'TRUE' },
    want: { runOnBoot: true },
  },
  {
    name: 'CHECK_INTERVAL 30m is half an hour',
    env: { CHECK_INTERVAL: '30m' },
    want: { checkIntervalMs: 1_800_000 },
  },
  {
    name: 'CHECK_INTERVAL 6h is six hours',
    env: { CHECK_INTERVAL: '6h' },
    want: { checkIntervalMs: 21_600_000 },
  },
  {
    name: 'CHECK_INTERVAL may be the minimum',
    env: { CHECK_INTERVAL: '10s' },
    want: { checkIntervalMs: 10_000 },
  },
  {
    name: 'CHECK_INTERVAL may be short in tests',
    env: { CHECK_INTERVAL: '200ms', NODE_ENV: 'test' },
    want: { checkIntervalMs: 200, nodeEnv: 'test' },
  },
  {
    name: 'LOG_LEVEL DEBUG maps to the pino level debug',
    env: { LOG_LEVEL: 'DEBUG' },
    want: { logLevel: 'debug' },
  },
  { name: 'LOG_LEVEL trace in lower case is read', env: { LOG_LEVEL: 'trace' }, want: { logLevel: 'trace' } },
  { name: 'LOG_LEVEL WARN maps to warn', env: { LOG_LEVEL: 'WARN' }, want: { logLevel: 'warn' } },
  { name: 'LOG_LEVEL ERROR maps to error', env: { LOG_LEVEL: 'ERROR' }, want: { logLevel: 'error' } },
  { name: 'LOG_LEVEL SILENT turns logs off', env: { LOG_LEVEL: 'SILENT' }, want: { logLevel: 'silent' } },
  {
    name: 'NODE_ENV development is read',
    env: { NODE_ENV: 'development' },
    want: { nodeEnv: 'development' },
  },
  {
    name: 'a blank variable means its default',
    env: { HTTP_PORT: '  ', LOG_LEVEL: '' },
    want: { httpPort: 8080 },
  },
  {
    name: 'ports are read',
    env: { HTTP_PORT: '9090', WEBHOOK_PORT: '9443' },
    want: { httpPort: 9090, webhookPort: 9443 },
  },
  { name: 'GITHUB_TOKEN is kept', env: { GITHUB_TOKEN: 'ghp_abc' }, want: { githubToken: 'ghp_abc' } },
  {
    name: 'the OpenAI settings are read together',
    env: { OPEN_AI_URL: 'http://127.0.0.1:1234/v1', OPEN_AI_MODEL: 'llama3', OPEN_AI_KEY: 'sk-1' },
    want: { openAi: { url: 'http://127.0.0.1:1234/v1', model: 'llama3', key: 'sk-1' } },
  },
  {
    name: 'an OpenAI-compatible endpoint without a key is allowed',
    env: { OPEN_AI_URL: 'http://127.0.0.1:1234/v1', OPEN_AI_MODEL: 'llama3' },
    want: { openAi: { url: 'http://127.0.0.1:1234/v1', model: 'llama3', key: undefined } },
  },
  {
    name: 'both TLS files are read',
    env: { TLS_CERT_FILE: '/tls/tls.crt', TLS_KEY_FILE: '/tls/tls.key' },
    want: { tlsCertFile: '/tls/tls.crt', tlsKeyFile: '/tls/tls.key' },
  },
  { name: 'DOCKER_CONFIG wins over HOME', env: { DOCKER_CONFIG: '/cfg' }, want: { dockerConfigDir: '/cfg' } },
  {
    name: 'insecure registries are lower-cased host:port entries',
    env: { INSECURE_REGISTRIES: 'Registry.Local:5000, 10.0.0.5:5000,[::1]:5000,myreg' },
    want: { insecureRegistries: ['registry.local:5000', '10.0.0.5:5000', '[::1]:5000', 'myreg'] },
  },
  {
    name: 'watched namespaces are a comma list',
    env: { WATCH_NAMESPACES: 'default, apps' },
    want: { watchNamespaces: ['default', 'apps'] },
  },
  {
    name: 'the watcher service account can be renamed',
    env: { WATCHER_SERVICE_ACCOUNT: 'system:serviceaccount:ops:iw' },
    want: { watcherServiceAccounts: ['system:serviceaccount:ops:iw'] },
  },
  {
    name: 'the watcher service account is a comma list, as the webhook reads it',
    env: {
      WATCHER_SERVICE_ACCOUNT: 'system:serviceaccount:ops:iw-watcher, system:serviceaccount:ops:iw-canary',
    },
    want: {
      watcherServiceAccounts: ['system:serviceaccount:ops:iw-watcher', 'system:serviceaccount:ops:iw-canary'],
    },
  },
  {
    name: 'leader election can be turned off',
    env: { LEADER_ELECTION: 'false' },
    want: { leaderElection: false },
  },
  { name: 'the lease name is read', env: { LEASE_NAME: 'iw.lock' }, want: { leaseName: 'iw.lock' } },
  {
    name: 'the pod name comes from POD_NAME before HOSTNAME',
    env: { POD_NAME: 'watcher-0', HOSTNAME: 'host' },
    want: { podName: 'watcher-0' },
  },
  { name: 'the pod name falls back to HOSTNAME', env: { HOSTNAME: 'host-1' }, want: { podName: 'host-1' } },
  { name: 'the pod namespace is read', env: { POD_NAMESPACE: 'ops' }, want: { podNamespace: 'ops' } },
  {
    name: 'the public URL loses its trailing slash',
    env: { PUBLIC_URL: 'https://iw.example.com/' },
    want: { publicUrl: 'https://iw.example.com' },
  },
  {
    name: 'the approval secret is kept',
    env: { APPROVAL_SECRET: '0123456789abcdef' },
    want: { approvalSecret: '0123456789abcdef' },
  },
  {
    name: 'registry concurrency is read',
    env: { REGISTRY_CONCURRENCY: '8' },
    want: { registryConcurrency: 8 },
  },
  {
    name: 'the registry cache TTL may be zero',
    env: { REGISTRY_CACHE_TTL: '0s' },
    want: { registryCacheTtlMs: 0 },
  },
  {
    name: 'the deadline for the tag list of one repository is read',
    env: { REGISTRY_LIST_TIMEOUT: '30s' },
    want: { registryListTimeoutMs: 30_000 },
  },
  {
    name: 'trusted registry hosts are host names, lower-case, ports dropped',
    env: { REGISTRY_TRUSTED_HOSTS: 'MinIO.corp:9000, auth.corp,[fd00::5]:443' },
    want: { registryTrustedHosts: ['minio.corp', 'auth.corp', 'fd00::5'] },
  },
  {
    name: 'the rollout timeout is read',
    env: { ROLLOUT_TIMEOUT: '15m' },
    want: { rolloutTimeoutMs: 900_000 },
  },
  {
    name: 'private release-note hosts can be allowed',
    env: { RELEASE_NOTES_ALLOW_PRIVATE: 'TRUE' },
    want: { releaseNotesAllowPrivate: true },
  },
];

t.test('each variable is read', (t) => {
  const defaults = loadConfig(BASE);
  for (const c of readings) t.same(loadConfig({ ...BASE, ...c.env }), { ...defaults, ...c.want }, c.name);
  t.end();
});

const errors: { name: string; env: Record<string, string>; variable: string; message: string | RegExp }[] = [
  {
    name: 'an unknown mode override names the variable and the allowed values',
    env: { IMAGE_WATCHER_MODE: 'AUTO' },
    variable: 'IMAGE_WATCHER_MODE',
    message: 'IMAGE_WATCHER_MODE="AUTO" is not allowed; use one of AUTO_UPDATE, NOTIFICATION, DISABLED',
  },
  {
    name: 'an unknown strategy override names the allowed strategies',
    env: { IMAGE_WATCHER_STRATEGY: 'newest' },
    variable: 'IMAGE_WATCHER_STRATEGY',
    message: 'IMAGE_WATCHER_STRATEGY="newest" is not allowed; use one of ALL, MAJOR, MINOR, PATCH',
  },
  {
    name: 'a CHECK_INTERVAL in words is not a duration',
    env: { CHECK_INTERVAL: '5 minutes' },
    variable: 'CHECK_INTERVAL',
    message: 'CHECK_INTERVAL="5 minutes" is not a duration; use e.g. 30s, 5m, 1h30m',
  },
  {
    name: 'a CHECK_INTERVAL below ten seconds is too short',
    env: { CHECK_INTERVAL: '5s' },
    variable: 'CHECK_INTERVAL',
    message: 'CHECK_INTERVAL="5s" is too short; the minimum is 10s',
  },
  {
    name: 'a bad RUN_ON_BOOT asks for TRUE or FALSE',
    env: { RUN_ON_BOOT: 'sometimes' },
    variable: 'RUN_ON_BOOT',
    message: 'RUN_ON_BOOT="sometimes" is not a boolean; use TRUE or FALSE',
  },
  {
    name: 'an unknown LOG_LEVEL lists the levels',
    env: { LOG_LEVEL: 'VERBOSE' },
    variable: 'LOG_LEVEL',
    message: 'LOG_LEVEL="VERBOSE" is not allowed; use one of ERROR, WARN, INFO, DEBUG, TRACE, SILENT',
  },
  {
    name: 'an unknown NODE_ENV lists the environments',
    env: { NODE_ENV: 'staging' },
    variable: 'NODE_ENV',
    message: 'NODE_ENV="staging" is not allowed; use one of development, production, test',
  },
  {
    name: 'an HTTP_PORT out of range is refused',
    env: { HTTP_PORT: '70000' },
    variable: 'HTTP_PORT',
    message: 'HTTP_PORT="70000" is not a port; use a number from 1 to 65535, or 0 for any free port',
  },
  {
    name: 'a LISTEN_ADDRESS that is not an IP address is refused',
    env: { LISTEN_ADDRESS: 'localhost' },
    variable: 'LISTEN_ADDRESS',
    message:
      'LISTEN_ADDRESS="localhost" is not an IP address; use e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces)',
  },
  {
    name: 'a WEBHOOK_PORT that is not a number is refused',
    env: { WEBHOOK_PORT: 'https' },
    variable: 'WEBHOOK_PORT',
    message: 'WEBHOOK_PORT="https" is not a port; use a number from 1 to 65535, or 0 for any free port',
  },
  {
    name: 'a certificate without a key is refused',
    env: { TLS_CERT_FILE: '/tls/tls.crt' },
    variable: 'TLS_KEY_FILE',
    message:
      'TLS_CERT_FILE is set but TLS_KEY_FILE is not; set both (or neither, for a generated certificate)',
  },
  {
    name: 'a key without a certificate is refused',
    env: { TLS_KEY_FILE: '/tls/tls.key' },
    variable: 'TLS_CERT_FILE',
    message:
      'TLS_KEY_FILE is set but TLS_CERT_FILE is not; set both (or neither, for a generated certificate)',
  },
  {
    name: 'an insecure registry written as a URL is refused',
    env: { INSECURE_REGISTRIES: 'ok:5000,http://reg:5000/v2' },
    variable: 'INSECURE_REGISTRIES',
    message: /has entries that are not host\[:port\]: http:\/\/reg:5000\/v2; use e\.g\. registry\.local:5000/,
  },
  {
    name: 'an insecure registry with an impossible port is refused',
    env: { INSECURE_REGISTRIES: 'reg:99999' },
    variable: 'INSECURE_REGISTRIES',
    message: /not host\[:port\]: reg:99999/,
  },
  {
    name: 'an invalid namespace is refused',
    env: { WATCH_NAMESPACES: 'default,Prod_1' },
    variable: 'WATCH_NAMESPACES',
    message: /invalid namespace names: Prod_1/,
  },
  {
    name: 'a service account given by name only is refused with the full form',
    env: { WATCHER_SERVICE_ACCOUNT: 'image-watcher-watcher' },
    variable: 'WATCHER_SERVICE_ACCOUNT',
    message:
      /not service account user names: image-watcher-watcher; use a comma list of system:serviceaccount:NAMESPACE:NAME/,
  },
  {
    name: 'one bad entry in the service account list is refused and named',
    env: { WATCHER_SERVICE_ACCOUNT: 'system:serviceaccount:ops:iw,ops:canary' },
    variable: 'WATCHER_SERVICE_ACCOUNT',
    message: /not service account user names: ops:canary;/,
  },
  {
    name: 'an empty service account list is refused',
    env: { WATCHER_SERVICE_ACCOUNT: ' , ' }, // trimmed to ','
    variable: 'WATCHER_SERVICE_ACCOUNT',
    message: /WATCHER_SERVICE_ACCOUNT="," is empty/,
  },
  {
    name: 'a bad LEADER_ELECTION is refused',
    env: { LEADER_ELECTION: 'maybe' },
    variable: 'LEADER_ELECTION',
    message: /LEADER_ELECTION="maybe" is not a boolean/,
  },
  {
    name: 'an invalid lease name is refused',
    env: { LEASE_NAME: 'Lease!' },
    variable: 'LEASE_NAME',
    message: /is not a valid name/,
  },
  {
    name: 'an invalid pod namespace is refused',
    env: { POD_NAMESPACE: 'a.b' },
    variable: 'POD_NAMESPACE',
    message: /POD_NAMESPACE="a.b" is not a valid name/,
  },
  {
    name: 'a relative PUBLIC_URL is refused',
    env: { PUBLIC_URL: 'iw.example.com' },
    variable: 'PUBLIC_URL',
    message: 'PUBLIC_URL="iw.example.com" is not an absolute URL; use e.g. https://example.com',
  },
  {
    name: 'an OPEN_AI_URL without a model asks for the model',
    env: { OPEN_AI_URL: 'http://127.0.0.1/v1' },
    variable: 'OPEN_AI_MODEL',
    message: /OPEN_AI_URL is set but OPEN_AI_MODEL is not/,
  },
  {
    name: 'an OPEN_AI_MODEL without a URL asks for the URL',
    env: { OPEN_AI_MODEL: 'gpt' },
    variable: 'OPEN_AI_URL',
    message: /OPEN_AI_MODEL is set but OPEN_AI_URL is not/,
  },
  {
    name: 'a REGISTRY_CONCURRENCY of zero is refused',
    env: { REGISTRY_CONCURRENCY: '0' },
    variable: 'REGISTRY_CONCURRENCY',
    message: 'REGISTRY_CONCURRENCY="0" is out of range; use a number from 1 to 64',
  },
  {
    name: 'a bad REGISTRY_CACHE_TTL is refused',
    env: { REGISTRY_CACHE_TTL: 'forever' },
    variable: 'REGISTRY_CACHE_TTL',
    message: /REGISTRY_CACHE_TTL="forever" is not a duration/,
  },
  {
    name: 'a REGISTRY_LIST_TIMEOUT under a second is refused',
    env: { REGISTRY_LIST_TIMEOUT: '10ms' },
    variable: 'REGISTRY_LIST_TIMEOUT',
    message: /REGISTRY_LIST_TIMEOUT="10ms" is too short; the minimum is 1s/,
  },
  {
    name: 'a ROLLOUT_TIMEOUT under a second is refused',
    env: { ROLLOUT_TIMEOUT: '10ms' },
    variable: 'ROLLOUT_TIMEOUT',
    message: 'ROLLOUT_TIMEOUT="10ms" is too short; the minimum is 1s',
  },
  {
    name: 'a bad RELEASE_NOTES_ALLOW_PRIVATE is refused',
    env: { RELEASE_NOTES_ALLOW_PRIVATE: 'sure' },
    variable: 'RELEASE_NOTES_ALLOW_PRIVATE',
    message: /is not a boolean/,
  },
];

t.test('invalid values stop the start with a message naming the variable', (t) => {
  for (const c of errors) {
    const err = t.throws(() => loadConfig({ ...BASE, ...c.env }), c.name) as ConfigError;
    t.ok(err instanceof ConfigError, `${c.name}: a ConfigError`);
    t.equal(err.code, 'E_CONFIG');
    t.equal(err.variable, c.variable, `${c.name}: names ${c.variable}`);
    if (typeof c.message === 'string') t.equal(err.message, c.message, c.name);
    else t.match(err.message, c.message, c.name);
  }
  t.end();
});

t.test('every invalid variable is reported at once', (t) => {
  const err = t.throws(() =>
    loadConfig({ ...BASE, HTTP_PORT: 'x', CHECK_INTERVAL: 'y', IMAGE_WATCHER_MODE: 'z' }),
  ) as ConfigError;
  t.same(
    err.problems.map((p) => p.variable),
    ['IMAGE_WATCHER_MODE', 'CHECK_INTERVAL', 'HTTP_PORT'],
  );
  t.match(err.message, /^3 invalid settings: /);
  t.end();
});

const secrets: { name: string; env: Record<string, string>; secret: string; message: RegExp }[] = [
  {
    name: 'a GITHUB_TOKEN with a line break is refused without echoing it',
    env: { GITHUB_TOKEN: 'ghp_secret\nvalue' },
    secret: 'ghp_secret',
    message: /^GITHUB_TOKEN must not contain spaces or line breaks$/,
  },
  {
    name: 'a short APPROVAL_SECRET is refused without echoing it',
    env: { APPROVAL_SECRET: 'hunter2' },
    secret: 'hunter2',
    message: /^APPROVAL_SECRET is too short; use at least 16 characters$/,
  },
  {
    name: 'an OPEN_AI_KEY with spaces is refused without echoing it',
    env: { OPEN_AI_URL: 'http://x/v1', OPEN_AI_MODEL: 'm', OPEN_AI_KEY: 'sk-top secret' },
    secret: 'top secret',
    message: /^OPEN_AI_KEY must not contain/,
  },
  {
    name: 'an OPEN_AI_URL that may carry a key in it is not echoed',
    env: { OPEN_AI_URL: 'ftp://api?key=sk-live-123', OPEN_AI_MODEL: 'm' },
    secret: 'sk-live-123',
    message: /^OPEN_AI_URL must start with http:\/\/ or https:\/\//,
  },
];

t.test('secrets never appear in error messages', (t) => {
  for (const c of secrets) {
    const err = t.throws(() => loadConfig({ ...BASE, ...c.env }), c.name) as ConfigError;
    t.match(err.message, c.message, c.name);
    t.notMatch(JSON.stringify({ m: err.message, p: err.problems }), c.secret, `${c.name}: not echoed`);
  }
  t.end();
});

t.test('redactConfig hides the secrets and keeps the rest', (t) => {
  const config = loadConfig({
    ...BASE,
    GITHUB_TOKEN: 'ghp_secret',
    APPROVAL_SECRET: 'approval-secret-0123',
    OPEN_AI_URL: 'http://127.0.0.1/v1',
    OPEN_AI_MODEL: 'm',
    OPEN_AI_KEY: 'sk-secret',
    INSECURE_REGISTRIES: 'reg:5000',
  });
  const safe = redactConfig(config);
  const text = JSON.stringify(safe);
  for (const s of ['ghp_secret', 'approval-secret-0123', 'sk-secret']) t.notMatch(text, s, `${s} hidden`);
  t.equal(safe.githubToken, '[redacted]');
  t.equal(safe.openAi?.key, '[redacted]');
  t.equal(safe.openAi?.model, 'm');
  t.equal(safe.httpPort, 8080);
  t.equal(config.githubToken, 'ghp_secret', 'the original is untouched');
  safe.insecureRegistries.push('x');
  t.same(config.insecureRegistries, ['reg:5000'], 'lists are copied');

  const none = redactConfig(loadConfig(BASE));
  t.equal(none.githubToken, undefined, 'an absent secret stays absent');
  t.equal(none.openAi, undefined);
  t.end();
});
