// REGISTRY_WEBHOOK_TOKEN and RECEIVER_PORT in the one settings loader.
import t from 'tap';
import { ConfigError } from '../../../shared/env.ts';
import { loadWatcherConfig } from '../../../watcher/create.ts';

t.test('unset: no receiver', (t) => {
  const { settings } = loadWatcherConfig({});
  t.equal(settings.registryWebhookToken, undefined);
  t.equal(settings.receiverPort, undefined);
  t.end();
});

t.test('set: the token and the port', (t) => {
  const { settings } = loadWatcherConfig({
    REGISTRY_WEBHOOK_TOKEN: 'hook-token-0123456789',
    RECEIVER_PORT: '8090',
  });
  t.equal(settings.registryWebhookToken, 'hook-token-0123456789');
  t.equal(settings.receiverPort, 8090);
  t.end();
});

t.test('a short token, a bad port and the HTTP port are reported together, never the token', (t) => {
  const err = t.throws(() =>
    loadWatcherConfig({ REGISTRY_WEBHOOK_TOKEN: 'short-secret', RECEIVER_PORT: 'x', HTTP_PORT: 'y' }),
  ) as ConfigError;
  t.type(err, ConfigError);
  t.same(err.problems.map((p) => p.variable).sort(), [
    'HTTP_PORT',
    'RECEIVER_PORT',
    'REGISTRY_WEBHOOK_TOKEN',
  ]);
  t.notMatch(err.message, /short-secret/);
  const same = t.throws(() =>
    loadWatcherConfig({ REGISTRY_WEBHOOK_TOKEN: 'hook-token-0123456789', RECEIVER_PORT: '8080' }),
  ) as ConfigError;
  t.match(same.message, /RECEIVER_PORT must differ from HTTP_PORT/);
  t.end();
});
