// Runs the images built by scripts/images.sh the way a cluster runs them (see the Deployments in
// manifests/): runc, read-only root filesystem, no capabilities, uid 10001, 256 MiB, a tmpfs /tmp.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import type { FakeKube } from '../support/fake-kube/index.ts';
import { findProgram } from '../support/programs.ts';
import { freePort } from '../support/registry.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const ENV = { ...process.env, CONTAINERS_CONF: `${ROOT}scripts/containers.conf` };
const TOOLS = ['buildah', 'podman', 'skopeo', 'mmdebstrap', 'runc', 'docker-registry'];

function installed(tool: string): boolean {
  try {
    accessSync(findProgram(tool), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why the image tests cannot run here, or false. Under .ci/run (IMAGE_WATCHER_CI=1) they always
 * run: a missing tool is a failure there, not a skip.
 */
export function skipReason(): string | false {
  if (process.env.IMAGE_WATCHER_CI === '1') return false;
  const missing = TOOLS.filter((tool) => !installed(tool));
  if (process.getuid?.() !== 0) missing.push('root');
  return missing.length === 0
    ? false
    : `not on CI and missing ${missing.join(', ')}: install them (see .ci/run) to build and run the images`;
}

export async function sh(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, {
      cwd: ROOT,
      env: ENV,
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.message}\n${e.stderr ?? ''}`, { cause: err });
  }
}

export const podman = (args: string[], timeoutMs?: number): Promise<string> => sh('podman', args, timeoutMs);

/** podman's exit code and output, for a command expected to fail. */
export async function podmanResult(
  args: string[],
  timeoutMs = 120_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('podman', args, { cwd: ROOT, env: ENV, timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `podman run` arguments for one command in IMAGE, offline and removed after: ENTRYPOINT ARGS, with FLAGS. */
export function runOnce(image: string, entrypoint: string, args: string[], flags: string[] = []): string[] {
  return ['run', '--rm', '--network', 'none', ...flags, '--entrypoint', entrypoint, image, ...args];
}

/** Copies a local image to TARGET (a plain-HTTP registry) with skopeo; its compressed size and layers there. */
export async function pushWithSkopeo(
  image: string,
  target: string,
): Promise<{ compressed: number; layers: number }> {
  await sh('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `containers-storage:${image}`,
    `docker://${target}`,
  ]);
  const m = JSON.parse(
    await sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target}`]),
  ) as {
    layers: { size: number }[];
    config: { size: number };
  };
  return { compressed: m.layers.reduce((n, l) => n + l.size, m.config.size), layers: m.layers.length };
}

let built: Promise<Record<'webhook' | 'watcher' | 'watcherGit', string>> | undefined;
/**
 * The image names, built (or found in buildah's cache) by scripts/images.sh once per process:
 * webhook, watcher, and the watcher's -git variant (Git write-back).
 */
export function images(): Promise<Record<'webhook' | 'watcher' | 'watcherGit', string>> {
  built ??= sh('bash', ['scripts/images.sh'], 900_000).then((out) => {
    const names = out.trim().split('\n');
    const find = (c: string, git = false): string => {
      const name = names.find((n) => n.includes(`/${c}:`) && n.endsWith('-git') === git);
      if (!name) throw new Error(`scripts/images.sh built no ${c}${git ? ' -git' : ''} image:\n${out}`);
      return name;
    };
    return { webhook: find('webhook'), watcher: find('watcher'), watcherGit: find('watcher', true) };
  });
  return built;
}

export interface Container {
  name: string;
  logs(): Promise<string>;
  /** SIGTERM, then the exit code and how long the process took to stop. */
  terminate(): Promise<{ code: number; ms: number }>;
  running(): Promise<boolean>;
  remove(): Promise<void>;
}

/** Starts IMAGE detached under the restricted profile, on the host network (servers bind 127.0.0.1). */
export async function start(
  image: string,
  opts: { env: Record<string, string>; mounts?: string[]; name: string },
): Promise<Container> {
  const args = [
    'run',
    '--detach',
    '--name',
    opts.name,
    '--network',
    'host',
    '--read-only',
    '--read-only-tmpfs=false',
    // Like the manifests' emptyDir: podman's tmpfs default is noexec, an emptyDir is not (the
    // Git write-back runs its ssh wrapper from there).
    '--tmpfs',
    '/tmp:rw,exec,size=16m,mode=1777',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--user',
    '10001:10001',
    // No /etc/passwd entry for the uid, as under a kubelet (podman would add one).
    '--passwd=false',
    '--memory',
    '256m',
    '--memory-swap',
    '256m',
    '--pids-limit',
    '256',
    ...Object.entries(opts.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    ...(opts.mounts ?? []).flatMap((m) => ['--volume', m]),
    image,
  ];
  await podman(args);
  const name = opts.name;
  return {
    name,
    logs: async () => {
      try {
        const { stdout, stderr } = await run('podman', ['logs', name], { env: ENV });
        return stdout + stderr;
      } catch (err) {
        return String(err);
      }
    },
    terminate: async () => {
      const started = Date.now();
      await podman(['kill', '--signal', 'TERM', name]);
      const code = Number((await podman(['wait', name], 60_000)).trim());
      return { code, ms: Date.now() - started };
    },
    running: async () =>
      (await podman(['inspect', '--format', '{{.State.Running}}', name])).trim() === 'true',
    remove: async () => {
      await podman(['rm', '--force', '--time', '0', name]).catch(() => undefined);
    },
  };
}

/** Unpacked size (bytes) of a local image. */
export async function unpackedSize(image: string): Promise<number> {
  return Number((await podman(['image', 'inspect', '--format', '{{.Size}}', image])).trim());
}

/**
 * A watcher image in its container against the fake API server (a kubeconfig mounted read-only),
 * checking on boot without leader election, plus ENV; removed in teardown. `fail` rethrows with its logs.
 */
export async function startWatcherContainer(
  t: Test,
  image: string,
  opts: { name: string; kube: FakeKube; env?: Record<string, string> },
): Promise<{ c: Container; httpPort: number; fail: (err: unknown) => Promise<never> }> {
  const dir = await mkdtemp(join(tmpdir(), 'iw-image-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, opts.kube.kubeConfig().exportConfig());
  // The container's uid 10001 reads it.
  await chmod(kubeconfig, 0o644);
  const httpPort = await freePort();
  const c = await start(image, {
    name: opts.name,
    mounts: [`${kubeconfig}:/etc/image-watcher/kubeconfig:ro`],
    env: {
      KUBECONFIG: '/etc/image-watcher/kubeconfig',
      HTTP_PORT: String(httpPort),
      RUN_ON_BOOT: 'true',
      LEADER_ELECTION: 'false',
      LOG_LEVEL: 'INFO',
      ...opts.env,
    },
  });
  t.teardown(() => c.remove());
  const fail = async (err: unknown): Promise<never> => {
    throw new Error(`${String(err)}\n${await c.logs()}`);
  };
  return { c, httpPort, fail };
}
