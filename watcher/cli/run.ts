import { readFile } from 'node:fs/promises';
import { ImageWatcherError } from '../../shared/errors.ts';
import { parseList } from '../../shared/env.ts';
import { InvalidImageReferenceError } from '../../shared/image-ref.ts';
import { createRegistryClient } from '../registry/client.ts';
import { credentialsFor, DockerConfigError, readDockerConfig } from '../registry/credentials.ts';
import type { RegistryClient, RegistryCredentials } from '../registry/types.ts';
import { EditError, findImageSites } from '../gitops/edit/index.ts';
import {
  commandUsage,
  EXIT_CHANGES,
  EXIT_FAILURE,
  EXIT_NO_WORKLOADS,
  EXIT_OK,
  EXIT_USAGE,
  parseCommand,
  USAGE,
  UsageError,
  wantsJson,
} from './args.ts';
import type { Command } from './args.ts';
import { checkImage, checkJson, formatCheck, formatLabels, withLabels } from './check.ts';
import type { CheckDeps } from './check.ts';
import { findTargets, parseYamlDocuments } from './manifests.ts';
import type { ScanProblem, ScanTarget } from './manifests.ts';
import { applyBump, bumpRowJson, formatPlan, planBump, writeFileAtomic } from './bump.ts';
import { expandPaths } from './paths.ts';
import { disabledRows, formatTable, rowJson, scanTargets } from './scan.ts';

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
  /** bump --write; atomic (temp file + rename) by default. */
  writeFile?: (path: string, text: string) => Promise<void>;
}

export { EXIT_CHANGES, EXIT_FAILURE, EXIT_NO_WORKLOADS, EXIT_OK, EXIT_USAGE };

/** A failure that is not an exception: exit code, stable code and one line for people. */
class Outcome extends ImageWatcherError {
  constructor(
    code: string,
    message: string,
    readonly exitCode: number,
  ) {
    super(code, message);
  }
}

/** Errors caused by what the user typed or configured: exit 2 with a usage hint. */
function isUsageError(err: unknown): boolean {
  return (
    err instanceof UsageError ||
    err instanceof InvalidImageReferenceError ||
    err instanceof DockerConfigError ||
    err instanceof EditError ||
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
  const files = await expandPaths(cmd.files, cmd.recursive);
  const targets: ScanTarget[] = [];
  const disabled: ScanTarget[] = [];
  const problems: ScanProblem[] = [];
  let workloads = 0;
  for (const file of files) {
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
    disabled.push(...found.disabled);
    problems.push(...found.problems);
    workloads += found.workloads;
  }
  if (workloads === 0) {
    const where = files.length === 0 ? `no manifest file in ${cmd.files.join(', ')}` : files.join(', ');
    throw new Outcome(
      'E_NO_WORKLOADS',
      `no Deployment, StatefulSet, DaemonSet, CronJob or Pod in ${where}`,
      EXIT_NO_WORKLOADS,
    );
  }
  const rows = [...(await scanTargets(await checkDeps(deps), targets, problems)), ...disabledRows(disabled)];
  if (cmd.json) {
    deps.stdout.write(`${JSON.stringify(rows.map(rowJson), null, 2)}\n`);
  } else if (rows.length === 0) {
    deps.stdout.write(`${workloads} workloads, none with a container image to check\n`);
  } else {
    deps.stdout.write(`${formatTable(rows)}\n`);
  }
  const failed = rows.filter((r) => r.error).length;
  if (failed > 0) {
    const checked = rows.length - disabled.length;
    deps.stderr.write(`image-watcher: ${failed} of ${checked} containers could not be checked\n`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}

async function readText(read: (p: string) => Promise<string>, file: string): Promise<string> {
  try {
    return await read(file);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

async function runBump(cmd: Extract<Command, { kind: 'bump' }>, deps: CliDeps): Promise<number> {
  const read = deps.readFile ?? ((p: string) => readFile(p, 'utf8'));
  const write = deps.writeFile ?? writeFileAtomic;
  const named = new Set(cmd.files);
  const files: { file: string; text: string }[] = [];
  for (const file of new Set(await expandPaths(cmd.files, cmd.recursive))) {
    const text = await readText(read, file);
    try {
      findImageSites(file, text);
    } catch (err) {
      // A folder may hold Helm templates and other non-YAML .yaml files: noted, not fatal.
      if (named.has(file) || !(err instanceof EditError)) throw err;
      deps.stderr.write(`image-watcher: note: skipped ${err.message}\n`);
      continue;
    }
    files.push({ file, text });
  }
  if (files.length === 0) throw new UsageError(`no YAML file in ${cmd.files.join(', ')}`);
  const rows = await planBump(await checkDeps(deps), files, cmd);
  let written = false;
  if (cmd.write) {
    // Every file is edited in memory first: a site that cannot be rewritten stops before any write.
    for (const [file, text] of applyBump(files, rows)) {
      await write(file, text);
      written = true;
    }
  }
  const updates = rows.filter((r) => r.status === 'update').length;
  const errors = rows.filter((r) => r.status === 'error').length;
  if (cmd.json) {
    deps.stdout.write(
      `${JSON.stringify({ written, changes: updates, errors, sites: rows.map(bumpRowJson) }, null, 2)}\n`,
    );
  } else {
    deps.stdout.write(`${formatPlan(rows, written)}\n`);
  }
  if (errors > 0) {
    deps.stderr.write(`image-watcher: ${errors} of ${rows.length} images could not be checked\n`);
    return EXIT_FAILURE;
  }
  return updates > 0 ? EXIT_CHANGES : EXIT_OK;
}

/** Exit code and stable code of an error; the message is the error's own. */
function classify(err: unknown): { exitCode: number; code: string } {
  if (err instanceof Outcome) return { exitCode: err.exitCode, code: err.code };
  if (isUsageError(err)) return { exitCode: EXIT_USAGE, code: (err as ImageWatcherError).code };
  if (err instanceof ImageWatcherError) return { exitCode: EXIT_FAILURE, code: err.code };
  return { exitCode: EXIT_FAILURE, code: 'E_UNEXPECTED' };
}

/** Runs one CLI invocation and returns the exit code; never throws. */
export async function run(argv: readonly string[], deps: CliDeps): Promise<number> {
  try {
    const cmd = parseCommand(argv);
    switch (cmd.kind) {
      case 'help':
        deps.stdout.write(`${cmd.command ? commandUsage(cmd.command) : USAGE}\n`);
        return EXIT_OK;
      case 'version':
        deps.stdout.write(`${deps.version}\n`);
        return EXIT_OK;
      case 'check':
        return await runCheck(cmd, deps);
      case 'scan':
        return await runScan(cmd, deps);
      case 'bump':
        return await runBump(cmd, deps);
    }
  } catch (err) {
    const { exitCode, code } = classify(err);
    const message =
      code === 'E_UNEXPECTED'
        ? `unexpected error: ${err instanceof Error ? err.message : String(err)}`
        : (err as Error).message;
    // --json: a script reads stdout; the same line still goes to stderr for the person watching.
    if (wantsJson(argv)) deps.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
    const hint = exitCode === EXIT_USAGE ? "\nRun 'image-watcher --help' for usage." : '';
    deps.stderr.write(`image-watcher: ${message}${hint}\n`);
    return exitCode;
  }
}
