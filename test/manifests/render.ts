// Renders manifests/ with the kubectl that ships kustomize, for the manifest tests.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { findProgram } from '../support/programs.ts';

export const MANIFESTS_DIR = fileURLToPath(new URL('../../manifests/', import.meta.url));
export const KUBECTL = findProgram('kubectl', { envVar: 'KUBECTL' });

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      const [error] = doc.errors;
      if (error) throw error;
      return doc.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null);
}

export async function renderKustomization(dir: string = MANIFESTS_DIR): Promise<KubeObject[]> {
  const { stdout } = await promisify(execFile)(KUBECTL, ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseObjects(stdout);
}

export async function readExamples(): Promise<{ file: string; objects: KubeObject[] }[]> {
  const dir = `${MANIFESTS_DIR}examples/`;
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(async (file) => ({ file, objects: parseObjects(await readFile(dir + file, 'utf8')) })),
  );
}

export function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`rendered manifests have no ${kind} ${name}`);
  return found;
}
