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

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'check'; image: string; selection: TagSelection; json: boolean }
  | { kind: 'scan'; files: string[]; strategy: Strategy | undefined; json: boolean };

export const USAGE = `Usage:
  image-watcher check IMAGE [--strategy S] [--include RE] [--exclude RE] [--json]
      Ask IMAGE's registry for the newest allowed version.
  image-watcher scan FILE... [--strategy S] [--json]
      Report every container image of the Deployments, StatefulSets, DaemonSets, CronJobs
      and Pods in Kubernetes YAML files, honouring their image-watcher/* annotations.
  image-watcher --help | --version

Options:
  --strategy S   ALL, MAJOR, MINOR or PATCH (default ALL; for scan it overrides the annotations)
  --include RE   a candidate tag must match RE (RE2 syntax, at most 256 characters)
  --exclude RE   a candidate tag must not match RE
  --json         print JSON instead of text

Environment:
  DOCKER_CONFIG        directory of the Docker config.json with credentials (default ~/.docker)
  INSECURE_REGISTRIES  comma list of host:port spoken to over plain HTTP (loopback always is)

Exit codes: 0 success, 1 a registry could not be asked, 2 bad arguments.`;

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

/** Parses argv (without node and script); throws UsageError with one clear line. */
export function parseCommand(argv: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        json: { type: 'boolean' },
        strategy: { type: 'string', short: 's' },
        include: { type: 'string' },
        exclude: { type: 'string' },
      },
    });
  } catch (err) {
    // node:util messages are multi-line sometimes; keep the first line.
    throw new UsageError((err instanceof Error ? err.message : String(err)).split('\n')[0]!);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const [command, ...rest] = positionals;
  const json = values.json === true;
  switch (command) {
    case 'check': {
      if (rest.length !== 1)
        throw new UsageError('check needs exactly one IMAGE, e.g. image-watcher check nginx:1.25.3');
      const selection: TagSelection = {
        strategy: values.strategy === undefined ? 'ALL' : parseStrategy(values.strategy),
      };
      if (values.include !== undefined) selection.include = parsePattern('include', values.include);
      if (values.exclude !== undefined) selection.exclude = parsePattern('exclude', values.exclude);
      return { kind: 'check', image: rest[0]!, selection, json };
    }
    case 'scan': {
      if (rest.length === 0) throw new UsageError('scan needs at least one FILE of Kubernetes YAML');
      if (values.include !== undefined || values.exclude !== undefined) {
        throw new UsageError(
          'scan takes include/exclude from the image-watcher/include and image-watcher/exclude annotations',
        );
      }
      return {
        kind: 'scan',
        files: rest,
        strategy: values.strategy === undefined ? undefined : parseStrategy(values.strategy),
        json,
      };
    }
    case undefined:
      throw new UsageError('missing command: check or scan');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}: use check or scan`);
  }
}
