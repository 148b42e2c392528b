import t from 'tap';
import { settingsInputsKey } from '../../shared/annotations.ts';

const LIMIT = 4096;
const lastApplied = (name: string) => ({
  'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ metadata: { name } }),
});

t.test('equal when what the parser reads is equal', (t) => {
  const base = { 'image-watcher/mode': 'AUTO_UPDATE', 'image-watcher/strategy': 'minor' };
  const key = settingsInputsKey(base, ['app'], LIMIT);
  const cases: [string, Record<string, string>][] = [
    ['kubectl last-applied of another object', { ...base, ...lastApplied('other') }],
    ['other annotations', { ...base, team: 'shop' }],
    ['managed keys', { ...base, 'image-watcher/current-version': '1.2.3' }],
    ['another key order', { 'image-watcher/strategy': 'minor', 'image-watcher/mode': 'AUTO_UPDATE' }],
  ];
  for (const [name, annotations] of cases) t.equal(settingsInputsKey(annotations, ['app'], LIMIT), key, name);
  t.end();
});

t.test('different when an input differs', (t) => {
  const base = { 'image-watcher/mode': 'AUTO_UPDATE' };
  const key = settingsInputsKey(base, ['app'], LIMIT);
  t.not(settingsInputsKey({ 'image-watcher/mode': 'NOTIFICATION' }, ['app'], LIMIT), key, 'a value');
  t.not(settingsInputsKey({ ...base, 'image-watcher/strategy': 'minor' }, ['app'], LIMIT), key, 'a key');
  t.not(settingsInputsKey(base, ['app', 'side'], LIMIT), key, 'the containers');
  t.not(settingsInputsKey(base, undefined, LIMIT), key, 'no container list');
  t.end();
});

t.test('no key when too long to keep; no image-watcher key is an empty parts list', (t) => {
  t.equal(settingsInputsKey({ 'image-watcher/include': 'x'.repeat(5000) }, ['app'], LIMIT), undefined);
  t.equal(settingsInputsKey({ 'image-watcher/mode': 'AUTO_UPDATE' }, ['a'.repeat(5000)], LIMIT), undefined);
  t.ok(settingsInputsKey(lastApplied('web'), ['app'], LIMIT)?.startsWith('[[],'));
  t.ok(settingsInputsKey(undefined, undefined, LIMIT)?.startsWith('[[],'));
  t.end();
});
