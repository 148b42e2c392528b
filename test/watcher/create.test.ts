// The one settings loader of the watcher process: every bad variable, of every part, at once.
import t from 'tap';
import { ConfigError } from '../../shared/env.ts';
import { loadWatcherConfig } from '../../watcher/create.ts';

t.test('bad values in the shared, watcher and notification settings are reported together', (t) => {
  const env = { CHECK_INTERVAL: 'often', CHECK_DEBOUNCE: 'soon', NOTIFY_RETRIES: 'many' };
  let err: unknown;
  try {
    loadWatcherConfig(env);
  } catch (e) {
    err = e;
  }
  t.type(err, ConfigError);
  const vars = (err as ConfigError).problems.map((p) => p.variable).sort();
  t.same(vars, ['CHECK_DEBOUNCE', 'CHECK_INTERVAL', 'NOTIFY_RETRIES']);
  t.end();
});

t.test('good settings load', (t) => {
  const wc = loadWatcherConfig({ CHECK_DEBOUNCE: '5s' });
  t.equal(wc.settings.debounceMs, 5000);
  t.ok(wc.config.checkIntervalMs > 0);
  t.ok(Array.isArray(wc.notify.channels));
  t.end();
});
