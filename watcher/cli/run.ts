import { readFile } from 'node:fs/promises';
import { ImageWatcherError } from '../../shared/errors.ts';
import { parseList } from '../../shared/env.ts';
import { InvalidImageReferenceError } from '../../shared/image-ref.ts';
import { createRegistryClient } from '../registry/client.ts';
import { credentialsFor, DockerConfigError, readDockerConfig } from '../registry/credentials.ts';
import { RegistryError } from '../registry/errors.ts';
import type { RegistryClient, RegistryCredentials } from '../registry/types.ts';
import { parseCommand, USAGE, UsageError } from './args.ts';
import type { Command } from './args.ts';
import { checkImage, checkJson, formatCheck, formatLabels, withLabels } from './check.ts';
import type { CheckDeps } from './check.ts';
import { findTargets, parseYamlDocuments } from './manifests.ts';
import type { ScanProblem, ScanTarget } from './manifests.ts';
import { formatTable, scanTargets } from './scan.ts';

export interface Writer {
  write(chunk: string): unknown;
}

export interface CliDeps {
  env: Readonly<Record<string, string | undefined>>;
  stdout: Writer;
  stderr: Writer;
  version: string;
  /** Injected in tests; built from the environment otherwise. */
  client?: RegistryClient;
  readFile?: (path: string) => Promise<string>;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Errors caused by what the user typed or configured: exit 2 with a usage hint. */
function isUsageError(err: unknown): boolean {
  return (
    err instanceof UsageError ||
    err instanceof InvalidImageReferenceError ||
    err instanceof DockerConfigError ||
    (err instanceof ImageWatcherError && (err.code === 'E_CONFIG' || err.code === 'E_REGEX'))
  );
}

async function checkDeps(deps: CliDeps): Promise<CheckDeps> {
  const dockerConfig = await readDockerConfig(deps.env.DOCKER_CONFIG);
  const lookup = (registry: string): RegistryCredentials | undefined =>
    credentialsFor(registry, dockerConfig);
  const client =
    deps.client ??
    createRegistryClient({
      insecureRegistries: parseList(deps.env.INSECURE_REGISTRIES ?? ''),
      // A CLI user waits: fail faster than the watcher would.
      timeoutMs: 15_000,
      maxAttempts: 3,
    });
  return { client, credentialsFor: lookup };
}

async function runCheck(cmd: Extract<Command, { kind: 'check' }>, deps: CliDeps): Promise<number> {
  const check = await checkDeps(deps);
  let result = await checkImage(check, cmd.image, cmd.selection);
  if (cmd.labels) result = await withLabels(check, result);
  if (cmd.json) deps.stdout.write(`${JSON.stringify(checkJson(result))}\n`);
  else
    deps.stdout.write(`${formatCheck(result, cmd.selection.strategy)}\n${formatLabels(result.labels ?? {})}`);
  if (cmd.json && result.note) deps.stderr.write(`image-watcher: note: ${result.note}\n`);
  return EXIT_OK;
}

async function runScan(cmd: Extract<Command, { kind: 'scan' }>, deps: CliDeps): Promise<number> {
  const read = deps.readFile ?? ((p: string) => readFile(p, 'utf8'));
  const targets: ScanTarget[] = [];
  const problems: ScanProblem[] = [];
  for (const file of cmd.files) {
    let text: string;
    try {
      text = await read(file);
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const found = findTargets(
      file,
      parseYamlDocuments(file, text),
      cmd.strategy ? { strategy: cmd.strategy } : {},
    );
    targets.push(...found.targets);
    problems.push(...found.problems);
  }
  const rows = await scanTargets(await checkDeps(deps), targets, problems);
  if (cmd.json) {
    deps.stdout.write(
      `${JSON.stringify(
        rows.map(({ registryError: _r, ...row }) => row),
        null,
        2,
      )}\n`,
    );
  } else if (rows.length === 0) {
    deps.stdout.write('no watched containers found\n');
  } else {
    deps.stdout.write(`${formatTable(rows)}\n`);
  }
  const failed = rows.filter((r) => r.error).length;
  if (failed > 0) {
    deps.stderr.write(`image-watcher: ${failed} of ${rows.length} containers could not be checked\n`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}

/** Runs one CLI invocation and returns the exit code; never throws. */
export async function run(argv: readonly string[], deps: CliDeps): Promise<number> {
  try {
    const cmd = parseCommand(argv);
    switch (cmd.kind) {
      case 'help':
        deps.stdout.write(`${USAGE}\n`);
        return EXIT_OK;
      case 'version':
        deps.stdout.write(`${deps.version}\n`);
        return EXIT_OK;
      case 'check':
        return await runCheck(cmd, deps);
      case 'scan':
        return await runScan(cmd, deps);
    }
  } catch (err) {
    if (isUsageError(err)) {
      deps.stderr.write(`image-watcher: ${(err as Error).message}\nRun 'image-watcher --help' for usage.\n`);
      return EXIT_USAGE;
    }
    if (err instanceof RegistryError) {
      deps.stderr.write(`image-watcher: ${err.message}\n`);
      return EXIT_FAILURE;
    }
    deps.stderr.write(
      `image-watcher: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return EXIT_FAILURE;
  }
}
