import t from 'tap';
import { parseWatchSettings, readScope } from '../../shared/annotations.ts';
import { labelSelectorProblem } from '../../shared/label-selector.ts';
import { excludedBy } from '../../shared/selection.ts';
import type { Selection } from '../../shared/selection.ts';

t.test('label selectors: what the API server accepts passes, the rest names its fault', (t) => {
  for (const ok of [
    '',
    '  ',
    'app=web',
    'app==web',
    'app!=web',
    'app',
    '!app',
    'env in (prod, staging)',
    'env notin (dev)',
    'tier=web,env in (a,b),!legacy',
    'example.com/team=payments',
    'app.kubernetes.io/name=nginx',
    'app=',
    'replicas>3',
    'replicas<10',
  ]) {
    t.equal(labelSelectorProblem(ok), undefined, JSON.stringify(ok));
  }
  for (const [bad, why] of [
    ['env in (a,b', /unbalanced parentheses/],
    ['env in a,b)', /unbalanced parentheses/],
    ['app=web,,tier=db', /an empty requirement/],
    ['app=web,', /an empty requirement/],
    ['env in ()', /the set is empty/],
    ['app=web value', /is not a requirement/],
    ['app=-web', /"-web" is not a label value/],
    ['a'.repeat(64), /is not a label key/],
    ['Example.com/team=x', /the prefix before "\/" must be a DNS subdomain/],
    ['replicas>three', /> needs an integer/],
    ['env in (ok,-bad)', /"-bad" is not a label value/],
  ] as const) {
    t.match(labelSelectorProblem(bad), why, JSON.stringify(bad));
  }
  t.end();
});

t.test('scope: exactly one installation handles a workload', (t) => {
  const none: Selection = { annotatedOnly: false, scope: undefined };
  const a: Selection = { annotatedOnly: false, scope: 'team-a' };
  const b: Selection = { annotatedOnly: false, scope: 'team-b' };
  const annotatedOnly: Selection = { annotatedOnly: true, scope: undefined };
  const rows: [Record<string, string>, Selection, ReturnType<typeof excludedBy>][] = [
    [{}, none, undefined],
    [{}, a, 'other-scope'],
    [{ 'image-watcher/scope': 'team-a' }, none, 'scoped'],
    [{ 'image-watcher/scope': 'team-a' }, a, undefined],
    [{ 'image-watcher/scope': ' team-a ' }, a, undefined],
    [{ 'image-watcher/scope': 'team-a' }, b, 'other-scope'],
    [{ 'image-watcher/scope': 'Team-A' }, a, 'other-scope'],
    // Blank means no scope, as every blank user annotation means its default.
    [{ 'image-watcher/scope': '' }, none, undefined],
    // Invalid: the unscoped watcher takes it and reports it (it never acts on invalid annotations).
    [{ 'image-watcher/scope': 'team a!' }, none, undefined],
    [{ 'image-watcher/scope': 'team a!' }, a, 'other-scope'],
    [{}, annotatedOnly, 'not-annotated'],
    [{ 'image-watcher/mode': 'DISABLED' }, annotatedOnly, undefined],
    [{ 'image-watcher/mode': 'AUTO_UPDATE', 'image-watcher/scope': 'team-a' }, annotatedOnly, 'scoped'],
  ];
  for (const [annotations, selection, want] of rows) {
    t.equal(
      excludedBy(selection, annotations),
      want,
      `${JSON.stringify(annotations)} / ${JSON.stringify(selection)}`,
    );
  }
  // Whatever the annotations, at most one of the scopes none, team-a, team-b handles it.
  for (const [annotations] of rows) {
    const handlers = [none, a, b].filter((s) => excludedBy(s, annotations) === undefined);
    t.ok(handlers.length <= 1, `one handler at most for ${JSON.stringify(annotations)}`);
  }
  t.end();
});

t.test('the scope annotation in the one schema', (t) => {
  const parsed = parseWatchSettings({ 'image-watcher/scope': ' team-a ' });
  t.match(parsed, { ok: true, settings: { scope: 'team-a' } });
  t.equal(readScope({ 'image-watcher/scope': ' team-a ' }), 'team-a');
  t.equal(readScope({ 'image-watcher/scope': 'x'.repeat(64) }), undefined);
  const bad = parseWatchSettings({ 'image-watcher/scope': 'team a!' });
  t.match(bad, {
    ok: false,
    problems: [
      { key: 'image-watcher/scope', message: /^image-watcher\/scope: "team a!" is not a scope name/ },
    ],
  });
  t.end();
});
