// Where the programs the tests start live: an explicit env variable, else PATH, else the Debian
// path. Debian is what CI installs; elsewhere (macOS, Nix, a tarball in ~/bin) PATH finds them.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface FindProgramOptions {
  /** Environment variable naming the program's full path, e.g. `PROMTOOL`. */
  envVar?: string;
  env?: NodeJS.ProcessEnv;
  /** Used when nothing on PATH matches; `/usr/bin/<name>` by default. */
  fallback?: string;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Full path of `name`; the fallback is returned even when missing, so the error names it. */
export function findProgram(name: string, opts: FindProgramOptions = {}): string {
  const env = opts.env ?? process.env;
  const explicit = opts.envVar === undefined ? undefined : env[opts.envVar];
  if (explicit !== undefined && explicit !== '') return explicit;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return opts.fallback ?? `/usr/bin/${name}`;
}
