import t from 'tap';
import { parseCommand, UsageError } from '../../../watcher/cli/args.ts';

t.test('valid command lines', (t) => {
  const cases = [
    { name: 'help wins over everything', input: ['check', 'x', '--help'], want: { kind: 'help' } },
    { name: 'version', input: ['--version'], want: { kind: 'version' } },
    {
      name: 'check defaults to strategy ALL and text',
      input: ['check', 'nginx:1.25.3'],
      want: { kind: 'check', image: 'nginx:1.25.3', selection: { strategy: 'ALL' }, json: false },
    },
    {
      name: 'check takes a strategy in any case and --json',
      input: ['check', '127.0.0.1:5000/app:1.2.3', '--strategy', 'minor', '--json'],
      want: {
        kind: 'check',
        image: '127.0.0.1:5000/app:1.2.3',
        selection: { strategy: 'MINOR' },
        json: true,
      },
    },
    {
      name: 'scan takes several files and an optional strategy',
      input: ['scan', 'a.yaml', 'b.yaml', '--strategy=PATCH'],
      want: { kind: 'scan', files: ['a.yaml', 'b.yaml'], strategy: 'PATCH', json: false },
    },
  ];
  for (const c of cases) t.match(parseCommand(c.input), c.want, c.name);
  t.end();
});

t.test('include and exclude become regular expressions', (t) => {
  const cmd = parseCommand(['check', 'app:1.0.0', '--include', '^1\\.', '--exclude', 'rc']);
  t.equal(cmd.kind, 'check');
  if (cmd.kind === 'check') {
    t.ok(cmd.selection.include?.test('1.2.0'));
    t.ok(cmd.selection.exclude?.test('1.3.0-rc1'));
  }
  t.end();
});

t.test('bad command lines are usage errors with one clear line', (t) => {
  const cases = [
    { name: 'no command', input: [], want: /missing command/ },
    { name: 'unknown command', input: ['chek', 'x'], want: /unknown command "chek"/ },
    { name: 'check without an image', input: ['check'], want: /exactly one IMAGE/ },
    { name: 'check with two images', input: ['check', 'a', 'b'], want: /exactly one IMAGE/ },
    {
      name: 'an unknown strategy',
      input: ['check', 'a:1', '--strategy', 'newest'],
      want: /"newest" is not one of ALL, MAJOR, MINOR, PATCH/,
    },
    { name: 'an unknown option', input: ['check', 'a:1', '--fast'], want: /--fast/ },
    { name: 'a missing option value', input: ['check', 'a:1', '--strategy'], want: /--strategy/ },
    {
      name: 'an invalid regular expression',
      input: ['check', 'a:1', '--include', '(['],
      want: /^--include: /,
    },
    {
      name: 'a pattern RE2 cannot express (a backreference)',
      input: ['check', 'a:1', '--exclude', '(a)\\1'],
      want: /^--exclude: pattern "\(a\)\\\\1" is not allowed: backreferences .* RE2 syntax/,
    },
    { name: 'scan without files', input: ['scan'], want: /at least one FILE/ },
    { name: 'scan with include', input: ['scan', 'f', '--include', 'x'], want: /annotations/ },
  ];
  for (const c of cases) {
    const err = (() => {
      try {
        parseCommand(c.input);
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    t.ok(err instanceof UsageError, `${c.name}: a UsageError`);
    t.match((err as Error).message, c.want, c.name);
    t.notMatch((err as Error).message, /\n/, `${c.name}: one line`);
  }
  t.end();
});
