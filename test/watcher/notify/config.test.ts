import { readFileSync } from 'node:fs';
import t from 'tap';
import { ConfigError } from '../../../shared/env.ts';
import {
  createNotificationDispatcher,
  createNotifiers,
  describeChannels,
  loadNotifyConfig,
  NOTIFY_DEFAULTS,
} from '../../../watcher/notify/config.ts';

const SLACK = 'https://hooks.slack.com/services/T000/B000/XXXXSECRET';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.variable}: ${p.message}`);
    throw err;
  }
  return [];
}

t.test('no settings: no channels and the defaults', (t) => {
  t.same(loadNotifyConfig({}), { ...NOTIFY_DEFAULTS, channels: [] });
  t.end();
});

t.test('every channel from the environment', (t) => {
  const config = loadNotifyConfig({
    SLACK_WEBHOOK_URL: SLACK,
    TEAMS_WEBHOOK_URL: 'https://prod.westeurope.logic.azure.com/workflows/abc/triggers/manual?sig=zzz',
    DISCORD_WEBHOOK_URL: 'https://discord.com/api/webhooks/1/token',
    NOTIFY_WEBHOOK_URL: 'https://hooks.example.com/image-watcher',
    NOTIFY_WEBHOOK_SECRET: 'shh',
    SMTP_URL: 'smtp://user:pa55@mail.example.com:587',
    SMTP_FROM: 'image-watcher <iw@example.com>',
    SMTP_TO: 'ops@example.com, dev@example.com',
    NOTIFY_DIGEST_THRESHOLD: '10',
    NOTIFY_TIMEOUT: '5s',
    NOTIFY_RETRIES: '2',
    APPROVAL_LINK_TTL: '2d',
  });
  t.equal(config.approvalLinkTtlMs, 2 * 86_400_000);
  t.equal(config.digestThreshold, 10);
  t.equal(config.timeoutMs, 5000);
  t.equal(config.retries, 2);
  t.same(
    config.channels.map((c) => [c.type, c.name]),
    [
      ['slack', 'slack'],
      ['teams', 'teams'],
      ['discord', 'discord'],
      ['webhook', 'webhook'],
      ['email', 'email'],
    ],
  );
  t.match(config.channels[4], {
    from: 'image-watcher <iw@example.com>',
    to: ['ops@example.com', 'dev@example.com'],
  });
  t.match(config.channels[3], { secret: 'shh' });

  const described = describeChannels(config).join('\n');
  t.notMatch(described, /XXXXSECRET|sig=zzz|token|pa55|image-watcher$/m, 'no secret parts are described');
  t.match(described, /slack \(slack, https:\/\/hooks\.slack\.com\/…\)/);
  t.match(described, /email \(email, smtp mail\.example\.com:587\)/);

  const notifiers = createNotifiers(config);
  t.same(
    notifiers.map((n) => n.channel),
    ['slack', 'teams', 'discord', 'webhook', 'email'],
  );
  for (const n of notifiers) (n as { close?: () => void }).close?.();
  t.end();
});

t.test('a config file adds several channels of one type, with per-channel policy', (t) => {
  const file = `
digestThreshold: 3
timeout: 20s
channels:
  - type: slack
    name: slack-ops
    url: ${SLACK}
    events: [failed, rolled_back]
    timeout: 2s
    retries: 1
  - type: slack
    url: https://hooks.slack.com/services/T1/B1/OTHER
  - type: slack
    url: https://hooks.slack.com/services/T2/B2/THIRD
  - type: email
    url: smtps://u:p@mail.example.com:465
    from: iw@example.com
    to: [a@example.com, b@example.com]
  - type: webhook
    url: https://hooks.example.com/x
    secret: abc
`;
  const config = loadNotifyConfig(
    { NOTIFY_CONFIG_FILE: '/etc/image-watcher/notify.yaml', SLACK_WEBHOOK_URL: SLACK, NOTIFY_RETRIES: '4' },
    { readFile: (p) => (p === '/etc/image-watcher/notify.yaml' ? file : '') },
  );
  t.equal(config.digestThreshold, 3);
  t.equal(config.timeoutMs, 20_000);
  t.equal(config.retries, 4, 'the environment wins over the file');
  t.same(
    config.channels.map((c) => c.name),
    ['slack', 'slack-ops', 'slack-2', 'slack-3', 'email', 'webhook'],
  );
  t.match(config.channels[1], { timeoutMs: 2000, retries: 1, events: ['failed', 'rolled_back'] });
  const notifiers = createNotifiers(config);
  t.match(notifiers[1], {
    channel: 'slack-ops',
    timeoutMs: 2000,
    retries: 1,
    events: ['failed', 'rolled_back'],
  });
  for (const n of notifiers) (n as { close?: () => void }).close?.();
  t.end();
});

t.test('a JSON file works the same', (t) => {
  const config = loadNotifyConfig(
    { NOTIFY_CONFIG_FILE: 'notify.json' },
    {
      readFile: () =>
        JSON.stringify({ channels: [{ type: 'discord', url: 'https://discord.com/api/webhooks/1/t' }] }),
    },
  );
  t.same(
    config.channels.map((c) => c.type),
    ['discord'],
  );
  t.end();
});

t.test('bad settings are all reported, naming the variable, without secrets', (t) => {
  const cases = [
    {
      name: 'a webhook URL that is not a URL',
      env: { SLACK_WEBHOOK_URL: 'hooks.slack.com/services/xyzzy' },
      want: [/^SLACK_WEBHOOK_URL: SLACK_WEBHOOK_URL is not an absolute URL/],
    },
    {
      name: 'a webhook without its secret',
      env: { NOTIFY_WEBHOOK_URL: 'https://x.example.com/h' },
      want: [/^NOTIFY_WEBHOOK_SECRET: .*required/],
    },
    {
      name: 'SMTP without recipients and sender',
      env: { SMTP_URL: 'smtp://mail:25' },
      want: [/^SMTP_FROM: /, /^SMTP_TO: /],
    },
    {
      name: 'SMTP with an http URL',
      env: { SMTP_URL: 'http://user:xyzzy@mail', SMTP_FROM: 'a@b.c', SMTP_TO: 'd@e.f' },
      want: [/^SMTP_URL: SMTP_URL must start with smtp:\/\/ or smtps:\/\//],
    },
    {
      name: 'recipients that are not addresses',
      env: { SMTP_URL: 'smtp://mail:25', SMTP_FROM: 'a@b.c', SMTP_TO: 'ops, dev@example.com' },
      want: [/^SMTP_TO: SMTP_TO has invalid addresses: ops$/],
    },
    {
      name: 'recipients without a server',
      env: { SMTP_TO: 'ops@example.com' },
      want: [/^SMTP_URL: /],
    },
    {
      name: 'numbers out of range and a bad duration',
      env: {
        NOTIFY_DIGEST_THRESHOLD: '0',
        NOTIFY_RETRIES: '99',
        NOTIFY_TIMEOUT: '10',
        APPROVAL_LINK_TTL: '1m',
      },
      want: [
        /^NOTIFY_DIGEST_THRESHOLD: /,
        /^NOTIFY_TIMEOUT: /,
        /^NOTIFY_RETRIES: /,
        /^APPROVAL_LINK_TTL: .*too short/,
      ],
    },
  ];
  for (const c of cases) {
    const problems = problemsOf(() => loadNotifyConfig(c.env));
    t.equal(problems.length, c.want.length, `${c.name}: ${problems.join(' | ')}`);
    c.want.forEach((re, i) => t.match(problems[i], re, c.name));
    t.notMatch(problems.join('\n'), /xyzzy/, `${c.name}: no secret in the message`);
  }
  t.end();
});

t.test('bad config files are reported with the place of the mistake', (t) => {
  const cases = [
    {
      name: 'not YAML',
      file: 'channels: [',
      want: [/NOTIFY_CONFIG_FILE="n.yaml" cannot be read as YAML or JSON/],
    },
    { name: 'not a mapping', file: '- 1', want: [/must hold a mapping/] },
    { name: 'channels not a list', file: 'channels: 3', want: [/"channels" must be a list/] },
    {
      name: 'unknown type and missing url',
      file: 'channels:\n  - type: pager\n  - type: slack',
      want: [/channels\[0\]\.type must be one of slack, teams/, /channels\[1\]\.url is required/],
    },
    {
      name: 'bad policy values',
      file: 'channels:\n  - type: slack\n    url: https://h/x\n    timeout: fast\n    retries: -1\n    events: [sometimes]',
      want: [
        /channels\[0\]\.timeout/,
        /channels\[0\]\.retries/,
        /channels\[0\]\.events must list some of available/,
      ],
    },
    {
      name: 'webhook and email without their extra fields',
      file: 'channels:\n  - type: webhook\n    url: https://h/x\n  - type: email\n    url: smtp://m:25',
      want: [
        /channels\[0\]\.secret is required/,
        /channels\[1\]\.from is required/,
        /channels\[1\]\.to is required/,
      ],
    },
    {
      name: 'duplicate names',
      file: 'channels:\n  - type: slack\n    name: ops\n    url: https://h/x\n  - type: teams\n    name: ops\n    url: https://h/y',
      want: [/channel name "ops" is used twice/],
    },
  ];
  for (const c of cases) {
    const problems = problemsOf(() =>
      loadNotifyConfig({ NOTIFY_CONFIG_FILE: 'n.yaml' }, { readFile: () => c.file }),
    );
    t.equal(problems.length, c.want.length, `${c.name}: ${problems.join(' | ')}`);
    c.want.forEach((re, i) => t.match(problems[i], re, c.name));
  }
  const missing = problemsOf(() => loadNotifyConfig({ NOTIFY_CONFIG_FILE: '/nonexistent/notify.yaml' }));
  t.match(missing[0], /NOTIFY_CONFIG_FILE="\/nonexistent\/notify.yaml" cannot be read.*ENOENT/);
  t.end();
});

t.test('the dispatcher built from the configuration uses its digest threshold and retries', async (t) => {
  const sent: number[] = [];
  const config = loadNotifyConfig({
    SLACK_WEBHOOK_URL: SLACK,
    NOTIFY_DIGEST_THRESHOLD: '2',
    NOTIFY_RETRIES: '1',
  });
  let calls = 0;
  const dispatcher = createNotificationDispatcher(config, {
    fetch: (_url, init) => {
      calls++;
      sent.push((JSON.parse(init.body as string) as { blocks: unknown[] }).blocks.length);
      return Promise.resolve(new Response('', { status: calls === 1 ? 500 : 200 }));
    },
    sleep: () => Promise.resolve(),
  });
  t.same(dispatcher.channels, ['slack']);
  const notice = (name: string) => ({
    event: 'available' as const,
    workload: { kind: 'Deployment' as const, namespace: 'ns', name },
    container: 'c',
    image: 'img:1.0.0',
    currentVersion: '1.0.0',
    newVersion: '1.1.0',
    change: 'minor' as const,
  });
  const [report] = await dispatcher.dispatch([notice('a'), notice('b'), notice('c')]);
  t.equal(calls, 2, 'one digest, retried once after a 500');
  t.same(sent, [4, 4], 'a digest: header and one section per notice');
  t.same(report, { channel: 'slack', delivered: 1, failed: 0, attempts: 2, errors: [] });
});

t.test('the example file in the README loads', (t) => {
  const readme = readFileSync(new URL('../../../docs/notifications.md', import.meta.url), 'utf8');
  const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  t.ok(yaml, 'the README has a YAML example');
  const config = loadNotifyConfig({ NOTIFY_CONFIG_FILE: 'example.yaml' }, { readFile: () => yaml ?? '' });
  t.same(
    config.channels.map((c) => `${c.type}:${c.name}`),
    ['slack:slack-oncall', 'webhook:webhook', 'email:email'],
  );
  t.end();
});
