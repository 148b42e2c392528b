import t from 'tap';
import { ConfigError } from '../../shared/env.ts';
import { loadWebhookConfig } from '../../webhook/config.ts';

t.test('defaults follow the contract', (t) => {
  t.same(loadWebhookConfig({}), {
    webhookPort: 8443,
    httpPort: 8080,
    listenAddress: '0.0.0.0',
    tls: undefined,
    logLevel: 'info',
    watcherUsernames: ['system:serviceaccount:image-watcher:image-watcher-watcher'],
    serviceName: 'image-watcher-webhook',
    namespace: 'image-watcher',
  });
  t.end();
});

t.test('every variable is read', (t) => {
  const config = loadWebhookConfig({
    WEBHOOK_PORT: '9443',
    HTTP_PORT: '0',
    TLS_CERT_FILE: '/tls/tls.crt',
    TLS_KEY_FILE: '/tls/tls.key',
    LOG_LEVEL: 'debug',
    WATCHER_SERVICE_ACCOUNT: 'system:serviceaccount:ops:iw-watcher, system:serviceaccount:ops:iw-canary',
    WEBHOOK_SERVICE_NAME: 'iw-webhook',
    POD_NAMESPACE: 'ops',
    LISTEN_ADDRESS: '127.0.0.1',
  });
  t.same(config, {
    webhookPort: 9443,
    httpPort: 0,
    listenAddress: '127.0.0.1',
    tls: { certFile: '/tls/tls.crt', keyFile: '/tls/tls.key' },
    logLevel: 'debug',
    watcherUsernames: ['system:serviceaccount:ops:iw-watcher', 'system:serviceaccount:ops:iw-canary'],
    serviceName: 'iw-webhook',
    namespace: 'ops',
  });
  t.end();
});

t.test('bad values name the variable, and all are reported at once', (t) => {
  const cases = [
    {
      name: 'a port that is not a number',
      input: { WEBHOOK_PORT: 'https' },
      want: /WEBHOOK_PORT="https" is not a port/,
    },
    {
      name: 'an unknown log level',
      input: { LOG_LEVEL: 'loud' },
      want: /LOG_LEVEL="loud" is not allowed; use one of ERROR, WARN/,
    },
    {
      name: 'a certificate without its key',
      input: { TLS_CERT_FILE: '/tls/tls.crt' },
      want: /TLS_CERT_FILE and TLS_KEY_FILE must be set together/,
    },
    {
      name: 'a key without its certificate',
      input: { TLS_KEY_FILE: '/tls/tls.key' },
      want: /must be set together/,
    },
    {
      name: 'a watcher that is not a service account',
      input: { WATCHER_SERVICE_ACCOUNT: 'watcher' },
      want: /system:serviceaccount:<namespace>:<name>/,
    },
    {
      name: 'a namespace that is not a DNS label',
      input: { POD_NAMESPACE: 'Ops_1' },
      want: /POD_NAMESPACE="Ops_1" is not a DNS label/,
    },
    {
      name: 'the same port twice',
      input: { WEBHOOK_PORT: '8080' },
      want: /WEBHOOK_PORT and HTTP_PORT are both 8080/,
    },
  ];
  for (const c of cases) {
    t.throws(() => loadWebhookConfig(c.input), ConfigError, c.name);
    t.throws(() => loadWebhookConfig(c.input), { code: 'E_CONFIG', message: c.want }, c.name);
  }
  t.throws(() => loadWebhookConfig({ WEBHOOK_PORT: 'x', LOG_LEVEL: 'y' }), {
    message: /^2 invalid settings/,
  });
  t.end();
});
