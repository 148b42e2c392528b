import { parseArgs } from 'node:util';
import { ImageWatcherError } from '../../shared/errors.ts';
import { compileUserPattern } from '../../shared/regex.ts';
import type { TagPattern } from '../../shared/regex.ts';
import { STRATEGIES } from '../../shared/strategy.ts';
import type { Strategy, TagSelection } from '../../shared/strategy.ts';

/** Bad command line: exit code 2 with a usage hint. */
export class UsageError extends ImageWatcherError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

export type CommandName = 'check' | 'scan' | 'bump';

export type Command =
  | { kind: 'help'; command?: CommandName | undefined }
  | { kind: 'version' }
  | { kind: 'check'; image: string; selection: TagSelection; json: boolean; labels: boolean }
  | { kind: 'scan'; files: string[]; recursive: boolean; strategy: Strategy | undefined; json: boolean }
  | {
      kind: 'bump';
      files: string[];
      recursive: boolean;
      /** Flags given on the command line; unset ones come from a workload's annotations, else ALL. */
      strategy: Strategy | undefined;
      include: TagPattern | undefined;
      exclude: TagPattern | undefined;
      write: boolean;
      json: boolean;
    };

/** Exit codes of check and scan (README "CLI"). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** `scan` found no Deployment, StatefulSet, DaemonSet, CronJob or Pod in its files. */
export const EXIT_NO_WORKLOADS = 4;
/** `bump` found versions to change (and wrote them with --write). */
export const EXIT_CHANGES = 3;

const CHECK_HELP = `image-watcher check IMAGE [--strategy S] [--include RE] [--exclude RE] [--labels] [--json]
    Ask IMAGE's registry for the newest allowed version (IMAGE as in a pod spec, no scheme).`;
const SCAN_HELP = `image-watcher scan PATH... [-R] [--strategy S] [--json]
    Report every container image of the Deployments, StatefulSets, DaemonSets, CronJobs
    and Pods in Kubernetes YAML files, honouring their image-watcher/* annotations. A folder
    means its .yaml, .yml and .json files; -R also reads its subfolders.`;
const BUMP_HELP = `image-watcher bump PATH... [-R] [--strategy S] [--include RE] [--exclude RE] [--write] [--json]
    Find the images of kustomization images:, Kubernetes manifests, compose files and lines
    marked # image-watcher: NAMESPACE/NAME[/CONTAINER] [image=REPO], ask their registries and
    print the plan (file:line, from -> to); --write edits the files in place, only the version.`;

const OPTIONS = {
  strategy:
    '  -s, --strategy S   ALL, MAJOR, MINOR or PATCH (default ALL; for scan it overrides the annotations)',
  include: '  --include RE       a candidate tag must match RE (RE2 syntax, at most 256 characters)',
  exclude: '  --exclude RE       a candidate tag must not match RE',
  recursive: '  -R, --recursive    scan, bump: read the subfolders of a folder too',
  write: '  --write            bump: edit the files in place (atomically); without it only the plan',
  labels: '  --labels           check: also print the OCI labels of that version',
  json: '  --json             print JSON on stdout, errors too: {"error":{"code","message"}}',
};

const ENVIRONMENT = `Environment:
  DOCKER_CONFIG        directory of the Docker config.json with credentials (default ~/.docker)
  INSECURE_REGISTRIES  comma list of host:port spoken to over plain HTTP (loopback always is)`;

const EXIT_HELP = {
  check: 'Exit codes: 0 success, 1 the registry could not be asked, 2 bad arguments.',
  scan:
    'Exit codes: 0 success, 1 a container could not be checked, 2 bad arguments or an unreadable\n' +
    'or invalid file, 4 no workload in the files.',
  bump:
    'Exit codes: 0 nothing to change, 3 changes pending (or written with --write), 1 a registry\n' +
    'could not be asked, 2 bad arguments or an unreadable, invalid or unsupported file.',
};

export const USAGE = `Usage:
  ${CHECK_HELP.replace(/\n/g, '\n  ')}
  ${SCAN_HELP.replace(/\n/g, '\n  ')}
  ${BUMP_HELP.replace(/\n/g, '\n  ')}
  image-watcher COMMAND --help | --version

Options:
${Object.values(OPTIONS).join('\n')}

${ENVIRONMENT}

Exit codes: 0 success, 1 a registry could not be asked (scan: a container could not be checked),
2 bad arguments or an unreadable or invalid file, 4 scan found no workload, 3 bump has changes.
Registry requests are tried 3 times, each within 15 s.`;

/** Help of one command: its synopsis, only its options, its exit codes. */
export function commandUsage(command: CommandName): string {
  const options =
    command === 'check'
      ? [OPTIONS.strategy, OPTIONS.include, OPTIONS.exclude, OPTIONS.labels, OPTIONS.json]
      : command === 'bump'
        ? [OPTIONS.recursive, OPTIONS.strategy, OPTIONS.include, OPTIONS.exclude, OPTIONS.write, OPTIONS.json]
        : [OPTIONS.recursive, OPTIONS.strategy, OPTIONS.json];
  const synopsis = command === 'check' ? CHECK_HELP : command === 'bump' ? BUMP_HELP : SCAN_HELP;
  return `Usage:\n  ${synopsis.replace(/\n/g, '\n  ')}\n\nOptions:\n${options.join('\n')}\n\n${ENVIRONMENT}\n\n${EXIT_HELP[command]}`;
}

function parseStrategy(value: string): Strategy {
  const hit = STRATEGIES.find((s) => s === value.trim().toUpperCase());
  if (!hit)
    throw new UsageError(`--strategy ${JSON.stringify(value)} is not one of ${STRATEGIES.join(', ')}`);
  return hit;
}

function parsePattern(option: string, pattern: string): TagPattern {
  try {
    return compileUserPattern(pattern);
  } catch (err) {
    throw new UsageError(`--${option}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const OPTION_TYPES = {
  help: 'boolean',
  version: 'boolean',
  json: 'boolean',
  recursive: 'boolean',
  labels: 'boolean',
  write: 'boolean',
  strategy: 'string',
  include: 'string',
  exclude: 'string',
} as const;
type OptionName = keyof typeof OPTION_TYPES;
const VALUE_HINT: Partial<Record<OptionName, string>> = {
  strategy: `one of ${STRATEGIES.join(', ')}`,
  include: 'a regular expression',
  exclude: 'a regular expression',
};

function isOptionName(name: string): name is OptionName {
  return Object.hasOwn(OPTION_TYPES, name);
}

/** `--json` asked for, even on a command line that does not parse (errors are JSON then too). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * node:util parseArgs, non-strict so that its messages (multi-line, with an unbalanced quote, naming
 * `-s` where the user typed `--strategy`) are replaced by ours: the tokens tell what was typed.
 */
function parseOptions(argv: readonly string[]): {
  values: Partial<Record<OptionName, string | boolean>>;
  positionals: string[];
} {
  const { tokens, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      json: { type: 'boolean' },
      recursive: { type: 'boolean', short: 'R' },
      labels: { type: 'boolean' },
      write: { type: 'boolean' },
      strategy: { type: 'string', short: 's' },
      include: { type: 'string' },
      exclude: { type: 'string' },
    },
  });
  const values: Partial<Record<OptionName, string | boolean>> = {};
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (!isOptionName(token.name)) {
      throw new UsageError(`unknown option ${token.rawName}`);
    }
    const long = `--${token.name}`;
    if (OPTION_TYPES[token.name] === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${long} takes no value`);
      values[token.name] = true;
      continue;
    }
    const value = token.value;
    // `--strategy --json`: parseArgs takes the next option as the value; the user forgot one.
    if (value === undefined || value === '' || (!token.inlineValue && value.startsWith('-'))) {
      throw new UsageError(`${long} needs a value: ${VALUE_HINT[token.name] ?? 'a string'}`);
    }
    values[token.name] = value;
  }
  return { values, positionals };
}

/** Parses argv (without node and script); throws UsageError with one clear line. */
export function parseCommand(argv: readonly string[]): Command {
  const { values, positionals } = parseOptions(argv);
  const [command, ...rest] = positionals;
  if (values.help) {
    return {
      kind: 'help',
      command: command === 'check' || command === 'scan' || command === 'bump' ? command : undefined,
    };
  }
  if (values.version) return { kind: 'version' };
  const json = values.json === true;
  const text = (name: OptionName): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const strategy = text('strategy');
  const include = text('include');
  const exclude = text('exclude');
  if (values.write && command !== 'bump') throw new UsageError('--write is an option of bump');
  switch (command) {
    case 'check': {
      if (rest.length !== 1)
        throw new UsageError('check needs exactly one IMAGE, e.g. image-watcher check nginx:1.25.3');
      if (values.recursive) throw new UsageError('--recursive is an option of scan and bump, not of check');
      const selection: TagSelection = { strategy: strategy === undefined ? 'ALL' : parseStrategy(strategy) };
      if (include !== undefined) selection.include = parsePattern('include', include);
      if (exclude !== undefined) selection.exclude = parsePattern('exclude', exclude);
      return { kind: 'check', image: rest[0]!, selection, json, labels: values.labels === true };
    }
    case 'scan': {
      if (values.labels) throw new UsageError('--labels is an option of check, not of scan');
      if (rest.length === 0)
        throw new UsageError('scan needs at least one FILE or folder of Kubernetes YAML');
      if (include !== undefined || exclude !== undefined) {
        throw new UsageError(
          'scan takes include/exclude from the image-watcher/include and image-watcher/exclude annotations',
        );
      }
      return {
        kind: 'scan',
        files: rest,
        recursive: values.recursive === true,
        strategy: strategy === undefined ? undefined : parseStrategy(strategy),
        json,
      };
    }
    case 'bump': {
      if (values.labels) throw new UsageError('--labels is an option of check, not of bump');
      if (rest.length === 0)
        throw new UsageError(
          'bump needs at least one FILE or folder (manifests, kustomization, compose, values)',
        );
      return {
        kind: 'bump',
        files: rest,
        recursive: values.recursive === true,
        strategy: strategy === undefined ? undefined : parseStrategy(strategy),
        include: include === undefined ? undefined : parsePattern('include', include),
        exclude: exclude === undefined ? undefined : parsePattern('exclude', exclude),
        write: values.write === true,
        json,
      };
    }
    case undefined:
      throw new UsageError('missing command: check, scan or bump');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}: use check, scan or bump`);
  }
}
