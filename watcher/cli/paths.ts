import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from './args.ts';

/** What kubectl -f reads from a folder. */
export const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'] as const;

export interface PathFs {
  isDirectory(path: string): Promise<boolean>;
  /** Entries of a folder: names and whether each is a folder. */
  list(path: string): Promise<{ name: string; directory: boolean }[]>;
}

export const nodePathFs: PathFs = {
  isDirectory: async (path) => (await stat(path)).isDirectory(),
  list: async (path) =>
    (await readdir(path, { withFileTypes: true })).map((d) => ({ name: d.name, directory: d.isDirectory() })),
};

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/**
 * The files a `scan PATH...` reads, as `kubectl apply -f PATH [-R]` would: a file as given, a
 * folder as its manifest files in name order, its subfolders only when recursive.
 */
export async function expandPaths(
  paths: readonly string[],
  recursive: boolean,
  fs: PathFs = nodePathFs,
): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: { name: string; directory: boolean }[];
    try {
      entries = await fs.list(dir);
    } catch (err) {
      throw new UsageError(`cannot read folder ${dir}: ${errorCode(err)}`);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.directory) {
        if (recursive) await walk(full);
      } else if (MANIFEST_EXTENSIONS.some((ext) => e.name.endsWith(ext))) {
        out.push(full);
      }
    }
  };
  for (const path of paths) {
    let directory: boolean;
    try {
      directory = await fs.isDirectory(path);
    } catch (err) {
      throw new UsageError(`cannot read ${path}: ${errorCode(err)}`);
    }
    if (directory) await walk(path);
    else out.push(path);
  }
  return out;
}
