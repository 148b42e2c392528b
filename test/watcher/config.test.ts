import t from 'tap';
import { ConfigError } from '../../shared/env.ts';
import { WATCHER_DEFAULTS, loadWatcherSettings } from '../../watcher/config.ts';

t.test('the Git settings', (t) => {
  t.same(
    loadWatcherSettings({
      GIT_REPO: 'git@github.com:org/deploy.git',
      GIT_SECRET: 'git-creds',
      GIT_AUTHOR_NAME: 'Release Bot',
      GIT_AUTHOR_EMAIL: 'bot@example.com',
      GIT_COMMIT_PER_WORKLOAD: 'true',
      GIT_INSECURE_HOSTS: 'gitea.local:3000,127.0.0.1',
    }).git,
    {
      repo: 'git@github.com:org/deploy.git',
      secret: 'git-creds',
      authorName: 'Release Bot',
      authorEmail: 'bot@example.com',
      commitPerWorkload: true,
      insecureHosts: ['gitea.local:3000', '127.0.0.1'],
    },
  );
  try {
    loadWatcherSettings({ GIT_REPO: 'ftp://x/y', GIT_AUTHOR_EMAIL: 'nobody', GIT_SECRET: 'Bad_Name' });
    t.fail('should throw');
  } catch (err) {
    const m = (err as Error).message;
    for (const v of ['GIT_REPO', 'GIT_AUTHOR_EMAIL', 'GIT_SECRET']) t.match(m, v, `names ${v}`);
  }
  t.end();
});

t.test('watcher settings have defaults and validate their variables', (t) => {
  t.same(loadWatcherSettings({}), WATCHER_DEFAULTS, 'defaults when unset');
  t.same(loadWatcherSettings({ REGISTRY_RATE_LIMIT: '50', CHECK_DEBOUNCE: '500ms' }), {
    registryRatePerSecond: 50,
    debounceMs: 500,
    resolveRegistries: [],
    watchAnnotatedOnly: false,
    runOnce: false,
    policy: {},
    verifySignatures: 'none',
    verifyKeysFile: undefined,
    verifyTrustedRoot: undefined,
    git: WATCHER_DEFAULTS.git,
  });
  t.same(
    loadWatcherSettings({
      WATCH_SELECTOR: ' tier=web,env in (prod,staging) ',
      WATCH_ANNOTATED_ONLY: 'true',
      WATCHER_SCOPE: 'team-a',
      RUN_ONCE: 'TRUE',
    }),
    {
      ...WATCHER_DEFAULTS,
      watchSelector: 'tier=web,env in (prod,staging)',
      watchAnnotatedOnly: true,
      watcherScope: 'team-a',
      runOnce: true,
    },
    'the selection and run-once settings',
  );
  t.throws(() => loadWatcherSettings({ REGISTRY_RATE_LIMIT: '0' }), ConfigError, 'a zero rate is refused');
  t.throws(
    () => loadWatcherSettings({ REGISTRY_RATE_LIMIT: 'fast' }),
    /REGISTRY_RATE_LIMIT/,
    'the message names the variable',
  );
  t.throws(
    () => loadWatcherSettings({ CHECK_DEBOUNCE: '2' }),
    /CHECK_DEBOUNCE/,
    'a bare number is not a duration',
  );
  try {
    loadWatcherSettings({ REGISTRY_RATE_LIMIT: 'x', CHECK_DEBOUNCE: 'y' });
    t.fail('should throw');
  } catch (err) {
    t.match(
      (err as Error).message,
      /REGISTRY_RATE_LIMIT[\s\S]*CHECK_DEBOUNCE/,
      'both problems in one message',
    );
  }
  t.end();
});

t.test('policy defaults: UPDATE_SCHEDULE, UPDATE_TIMEZONE, MIN_RELEASE_AGE', (t) => {
  const s = loadWatcherSettings({
    UPDATE_SCHEDULE: '* 2-4 * * 1-5; 30 22 * * 6',
    UPDATE_TIMEZONE: 'Europe/Paris',
    MIN_RELEASE_AGE: '3d',
  });
  t.same(s.policy.schedule?.expressions, ['* 2-4 * * 1-5', '30 22 * * 6'], 'expressions split on ;');
  t.equal(s.policy.timezone, 'Europe/Paris');
  t.equal(s.policy.minAgeMs, 3 * 86_400_000);
  try {
    loadWatcherSettings({
      UPDATE_SCHEDULE: '* 25 * * *',
      UPDATE_TIMEZONE: 'Mars/Olympus',
      MIN_RELEASE_AGE: '3',
    });
    t.fail('should throw');
  } catch (err) {
    t.type(err, ConfigError);
    t.match(
      (err as Error).message,
      /UPDATE_SCHEDULE[\s\S]*UPDATE_TIMEZONE[\s\S]*MIN_RELEASE_AGE/,
      'all three bad variables in one message',
    );
  }
  t.end();
});

t.test('signature settings: VERIFY_SIGNATURES, VERIFY_KEYS_FILE, VERIFY_TRUSTED_ROOT', (t) => {
  t.match(
    loadWatcherSettings({
      VERIFY_SIGNATURES: 'Cosign',
      VERIFY_KEYS_FILE: '/etc/image-watcher/keys.pem',
      VERIFY_TRUSTED_ROOT: '/etc/image-watcher/trusted_root.json',
    }),
    {
      verifySignatures: 'cosign',
      verifyKeysFile: '/etc/image-watcher/keys.pem',
      verifyTrustedRoot: '/etc/image-watcher/trusted_root.json',
    },
  );
  t.throws(() => loadWatcherSettings({ VERIFY_SIGNATURES: 'notary' }), /VERIFY_SIGNATURES.*none, cosign/);
  t.end();
});
