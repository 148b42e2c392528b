import t from 'tap';
import { commandUsage, parseCommand, USAGE, UsageError, wantsJson } from '../../../watcher/cli/args.ts';

t.test('valid command lines', (t) => {
  const cases = [
    {
      name: 'help wins over everything and names the command',
      input: ['check', 'x', '--help'],
      want: { kind: 'help', command: 'check' },
    },
    { name: 'scan -h', input: ['scan', '-h'], want: { kind: 'help', command: 'scan' } },
    { name: 'general help', input: ['--help'], want: { kind: 'help', command: undefined } },
    { name: 'version', input: ['--version'], want: { kind: 'version' } },
    {
      name: 'check defaults to strategy ALL and text',
      input: ['check', 'nginx:1.25.3'],
      want: {
        kind: 'check',
        image: 'nginx:1.25.3',
        selection: { strategy: 'ALL' },
        json: false,
        labels: false,
      },
    },
    {
      name: 'check takes a strategy in any case and --json',
      input: ['check', '127.0.0.1:5000/app:1.2.3', '--strategy', 'minor', '--json'],
      want: {
        kind: 'check',
        image: '127.0.0.1:5000/app:1.2.3',
        selection: { strategy: 'MINOR' },
        json: true,
        labels: false,
      },
    },
    {
      name: 'check --labels',
      input: ['check', 'app:1.0.0', '--labels'],
      want: { kind: 'check', labels: true },
    },
    {
      name: 'scan takes several files and an optional strategy',
      input: ['scan', 'a.yaml', 'b.yaml', '--strategy=PATCH'],
      want: { kind: 'scan', files: ['a.yaml', 'b.yaml'], recursive: false, strategy: 'PATCH', json: false },
    },
    {
      name: 'scan takes folders and -R, as kubectl does',
      input: ['scan', '-R', 'manifests/'],
      want: { kind: 'scan', files: ['manifests/'], recursive: true },
    },
    {
      name: 'scan --recursive and -s',
      input: ['scan', 'k8s', '--recursive', '-s', 'major'],
      want: { kind: 'scan', files: ['k8s'], recursive: true, strategy: 'MAJOR' },
    },
    {
      name: 'bump defaults: no strategy (annotations, else ALL), plan only',
      input: ['bump', 'deploy/'],
      want: {
        kind: 'bump',
        files: ['deploy/'],
        recursive: false,
        strategy: undefined,
        include: undefined,
        exclude: undefined,
        write: false,
        json: false,
      },
    },
    {
      name: 'bump -R --write --json with a strategy and patterns',
      input: [
        'bump',
        '-R',
        'a',
        'b.yaml',
        '--write',
        '--json',
        '-s',
        'patch',
        '--include',
        '^v',
        '--exclude',
        'rc',
      ],
      want: {
        kind: 'bump',
        files: ['a', 'b.yaml'],
        recursive: true,
        strategy: 'PATCH',
        include: { source: '^v' },
        exclude: { source: 'rc' },
        write: true,
        json: true,
      },
    },
    { name: 'bump --help', input: ['bump', '--help'], want: { kind: 'help', command: 'bump' } },
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
    { name: 'bump without a path', input: ['bump'], want: /bump needs at least one FILE/ },
    { name: 'bump --labels', input: ['bump', 'a', '--labels'], want: /--labels is an option of check/ },
    { name: 'bump with a bad pattern', input: ['bump', 'a', '--include', '(?<=x)'], want: /--include/ },
    { name: '--write on check', input: ['check', 'a:1', '--write'], want: /--write is an option of bump/ },
    { name: '--write with a value', input: ['bump', 'a', '--write=yes'], want: /--write takes no value/ },
    { name: 'unknown command', input: ['chek', 'x'], want: /unknown command "chek"/ },
    { name: 'check without an image', input: ['check'], want: /exactly one IMAGE/ },
    { name: 'check with two images', input: ['check', 'a', 'b'], want: /exactly one IMAGE/ },
    { name: '--labels on scan', input: ['scan', 'a.yaml', '--labels'], want: /option of check, not of scan/ },
    {
      name: 'an unknown strategy',
      input: ['check', 'a:1', '--strategy', 'newest'],
      want: /"newest" is not one of ALL, MAJOR, MINOR, PATCH/,
    },
    { name: 'an unknown option', input: ['check', 'a:1', '--bogus'], want: /^unknown option --bogus$/ },
    { name: 'an unknown short option', input: ['scan', '-x', 'f'], want: /^unknown option -x$/ },
    {
      name: 'a missing option value names the long option, as the help lists it',
      input: ['check', 'a:1', '--strategy'],
      want: /^--strategy needs a value: one of ALL, MAJOR, MINOR, PATCH$/,
    },
    {
      name: 'the short option without a value names the long one too',
      input: ['check', 'a:1', '-s'],
      want: /^--strategy needs a value/,
    },
    {
      name: 'an option taken as the value',
      input: ['check', 'a:1', '--strategy', '--json'],
      want: /^--strategy needs a value/,
    },
    { name: 'an empty value', input: ['check', 'a:1', '--include='], want: /^--include needs a value/ },
    { name: 'a value for a flag', input: ['check', 'a:1', '--json=yes'], want: /^--json takes no value$/ },
    { name: 'check -R', input: ['check', 'a:1', '-R'], want: /option of scan/ },
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
    { name: 'scan without files', input: ['scan'], want: /at least one FILE or folder/ },
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

t.test('per-command help lists only that command and its options', (t) => {
  const check = commandUsage('check');
  t.match(check, /image-watcher check IMAGE/);
  t.notMatch(check, /image-watcher scan/);
  t.notMatch(check, /--recursive/);
  t.match(check, /-s, --strategy S/);
  t.match(check, /Exit codes: 0 success, 1 the registry could not be asked, 2 bad arguments\./);
  const scan = commandUsage('scan');
  t.match(scan, /image-watcher scan PATH\.\.\. \[-R\]/);
  t.match(scan, /-R, --recursive/);
  t.notMatch(scan, /--include/);
  t.match(scan, /4 no workload in the files/);
  const bump = commandUsage('bump');
  t.match(bump, /image-watcher bump PATH\.\.\. \[-R\]/);
  t.match(bump, /--write/);
  t.match(bump, /--include RE/);
  t.notMatch(bump, /--labels/);
  t.match(bump, /0 nothing to change, 3 changes pending/);
  t.match(USAGE, /image-watcher bump PATH/);
  t.match(USAGE, /-s, --strategy S/, 'the general help lists the short option users may meet');
  t.match(USAGE, /tried 3 times/);
  t.end();
});

t.test('wantsJson sees --json before --, even on a command line that does not parse', (t) => {
  t.ok(wantsJson(['check', '--bogus', '--json']));
  t.notOk(wantsJson(['check', 'x']));
  t.notOk(wantsJson(['scan', '--', '--json']));
  t.end();
});
