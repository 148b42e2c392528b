import t from 'tap';
import { parseWatchSettings } from '../../../shared/annotations.ts';
import { cachedSettingsParser } from '../../../webhook/admission/settings-cache.ts';

const inputs: { name: string; annotations: Record<string, string>; containers: string[] }[] = [
  { name: 'no image-watcher keys', annotations: { team: 'shop' }, containers: ['web'] },
  {
    name: 'valid keys with a regex',
    annotations: { 'image-watcher/include': '^1\\.', 'image-watcher/strategy': 'minor' },
    containers: ['web'],
  },
  { name: 'a bad mode', annotations: { 'image-watcher/mode': 'SOMETIMES' }, containers: ['web'] },
  { name: 'an unknown container', annotations: { 'image-watcher/containers': 'api' }, containers: ['web'] },
  {
    name: 'the same container list, now valid',
    annotations: { 'image-watcher/containers': 'api' },
    containers: ['api'],
  },
  {
    name: 'managed keys do not matter',
    annotations: { 'image-watcher/mode': 'DISABLED', 'image-watcher/token-update': 'x'.repeat(43) },
    containers: [],
  },
];

t.test('the cached parser answers exactly as parseWatchSettings, twice', (t) => {
  const parse = cachedSettingsParser();
  for (const c of inputs) {
    const want = parseWatchSettings(c.annotations, { containerNames: c.containers });
    t.same(parse(c.annotations, { containerNames: c.containers }), want, `${c.name} (first)`);
    t.same(parse({ ...c.annotations }, { containerNames: [...c.containers] }), want, `${c.name} (cached)`);
  }
  t.end();
});

t.test('a repeated input is served from the cache; unrelated annotations do not split it', (t) => {
  const parse = cachedSettingsParser();
  const first = parse({ 'image-watcher/include': '^1\\.' }, { containerNames: ['web'] });
  const again = parse(
    { 'image-watcher/include': '^1\\.', 'image-watcher/current-version': '1.0.0', other: 'x' },
    { containerNames: ['web'] },
  );
  t.equal(again, first, 'the same result object');
  t.not(
    parse({ 'image-watcher/include': '^2\\.' }, { containerNames: ['web'] }),
    first,
    'another value misses',
  );
  t.end();
});

t.test('the cache is bounded: past its size it starts over', (t) => {
  const parse = cachedSettingsParser(2);
  const a = parse({ 'image-watcher/include': 'a' });
  const b = parse({ 'image-watcher/include': 'b' });
  t.equal(parse({ 'image-watcher/include': 'a' }), a, 'a is cached');
  t.equal(parse({ 'image-watcher/include': 'b' }), b, 'b is cached');
  const c = parse({ 'image-watcher/include': 'c' });
  t.equal(parse({ 'image-watcher/include': 'c' }), c, 'c is cached');
  t.not(parse({ 'image-watcher/include': 'a' }), a, 'a was dropped with the rest');
  t.end();
});

t.test('overrides and huge values bypass the cache', (t) => {
  const parse = cachedSettingsParser();
  const huge = { 'image-watcher/release-url': `https://example.com/${'x'.repeat(5000)}` };
  t.not(parse(huge), parse(huge), 'huge keys are not kept');
  const withOverride = parse({ 'image-watcher/mode': 'DISABLED' }, { overrides: { mode: 'AUTO_UPDATE' } });
  t.same(
    withOverride,
    parseWatchSettings({ 'image-watcher/mode': 'DISABLED' }, { overrides: { mode: 'AUTO_UPDATE' } }),
  );
  t.end();
});
