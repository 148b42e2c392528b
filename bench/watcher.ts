// Benchmark of one full check cycle: 5,000 Deployments over 1,000 repositories in the fake API
// server, a registry answering each tag list after 20 ms. The watcher runs as its own process
// (the compiled watcher/main.js, exactly what `npm run start:watcher` runs) so its RSS is its own.
// Targets: exactly 1 tag-list request per repository, RSS under 100 MiB.
//   node --import ./bench/register.js bench/watcher.ts [--workloads N] [--repos N] [--latency MS]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeKube } from '../test/support/fake-kube/index.ts';
import { freePort } from '../test/support/registry.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const WORKLOADS = arg('workloads', 5000);
const REPOS = arg('repos', 1000);
const LATENCY_MS = arg('latency', 20);
const NAMESPACES = 50;
/** Extra environment for the watcher, e.g. `--env REGISTRY_RATE_LIMIT=100`. */
const EXTRA_ENV = Object.fromEntries(
  process.argv.flatMap((a, i) => (process.argv[i - 1] === '--env' ? [a.split('=') as [string, string]] : [])),
);
/** Node flags for the watcher, e.g. `--node --max-semi-space-size=1`. */
const NODE_FLAGS = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--node' ? [a] : []));
const RSS_TARGET_MIB = 100;

/** A registry that only knows tag lists, each answered after LATENCY_MS; counts requests per repository. */
async function startSlowRegistry() {
  const tagLists = new Map<string, number>();
  let other = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    const m = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    setTimeout(() => {
      if (url.pathname === '/v2/' || url.pathname === '/v2') {
        other++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (!m) {
        other++;
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
        return;
      }
      const repo = m[1]!;
      tagLists.set(repo, (tagLists.get(repo) ?? 0) + 1);
      const n = Number(repo.split('-').pop());
      // Every 10th repository has a newer minor version: 10% of the workloads get a notification.
      const tags = ['0.9.0', '1.0.0', '1.1.0-rc.1', 'latest', ...(n % 10 === 0 ? ['1.0.1', '1.1.0'] : [])];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: repo, tags }));
    }, LATENCY_MS);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    tagLists,
    other: () => other,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function deployment(i: number, image: string): object {
  const name = `app-${i}`;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: `ns-${i % NAMESPACES}`,
      labels: { app: name },
      annotations: { 'image-watcher/token-update': `tok_bench_${String(i).padStart(10, '0')}` },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image,
              ports: [{ containerPort: 8080 }],
              resources: { requests: { cpu: '10m', memory: '32Mi' } },
            },
          ],
        },
      },
    },
  };
}

/** RSS of a process that only loads the watcher's libraries: what no workload count can go below. */
function baselineMiB(): number {
  const code =
    "Promise.all(['@kubernetes/client-node','fastify','prom-client','pino','p-limit'].map((m)=>import(m)))" +
    '.then(()=>setTimeout(()=>console.log(process.memoryUsage().rss),500))';
  const res = spawnSync(process.execPath, [...NODE_FLAGS, '--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
  });
  return Number(res.stdout.trim()) / 2 ** 20;
}

function rssOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
}

async function main(): Promise<void> {
  const out = path.join(root, 'node_modules', '.cache', 'image-watcher-bench');
  console.log(`compiling the watcher to ${path.relative(root, out)} ...`);
  // Type errors elsewhere in the tree do not stop the emit; the watcher itself type-checks.
  spawnSync(
    process.execPath,
    [
      path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      out,
    ],
    { cwd: root, stdio: 'ignore' },
  );

  const registry = await startSlowRegistry();
  const kube = await startFakeKube({ rolloutDelayMs: 20 });
  const objects = [];
  for (let i = 0; i < WORKLOADS; i++)
    objects.push(deployment(i, `${registry.host}/bench/repo-${i % REPOS}:1.0.0`));
  kube.seed(objects);
  const dir = mkdtempSync(path.join(tmpdir(), 'iw-bench-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kube.kubeConfig().exportConfig());
  const httpPort = await freePort();

  const started = Date.now();
  const child = spawn(process.execPath, [...NODE_FLAGS, path.join(out, 'watcher', 'main.js')], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: kubeconfig,
      RUN_ON_BOOT: 'true',
      CHECK_INTERVAL: '6h',
      LEADER_ELECTION: 'false',
      HTTP_PORT: String(httpPort),
      LOG_LEVEL: 'INFO',
      NODE_ENV: 'production',
      DOCKER_CONFIG: dir,
      ...EXTRA_ENV,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let listedAt = 0;
  let cycle: { seconds: number; workloads: number; checkSeconds?: number; actSeconds?: number } | undefined;
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        const rec = JSON.parse(line) as {
          msg?: string;
          seconds?: number;
          workloads?: number;
          checkSeconds?: number;
          actSeconds?: number;
        };
        if (rec.msg === 'workloads listed; watching') listedAt = Date.now();
        if (rec.msg === 'check cycle done' && !cycle) {
          const { checkSeconds, actSeconds } = rec;
          cycle = { seconds: rec.seconds ?? NaN, workloads: rec.workloads ?? 0, checkSeconds, actSeconds };
        }
      } catch {
        // not a log record
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 600_000;
  while (!cycle && child.exitCode === null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  if (!cycle) throw new Error('the watcher did not finish a cycle');
  // Let notifications' event writes settle, then measure the steady state after a cycle.
  await new Promise((r) => setTimeout(r, 1000));
  const mem = rssOf(child.pid!);
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const heapMiB = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN) / 2 ** 20;
  const outdated = (metrics.match(/^image_watcher_image_outdated\{.*\} 1$/gm) ?? []).length;
  child.kill('SIGTERM');
  const code = await exited;

  const baseline = baselineMiB();
  const counts = [...registry.tagLists.values()];
  const exactlyOne = counts.length === REPOS && counts.every((c) => c === 1);
  const patches = kube.requestsMatching({ method: 'PATCH' }).length;
  const report = {
    note: 'rss is the whole watcher process; libraryBaselineRssMiB is node + client-node + fastify + prom-client + pino alone',
    workloads: WORKLOADS,
    repositories: REPOS,
    registryLatencyMs: LATENCY_MS,
    listSeconds: listedAt ? (listedAt - started) / 1000 : undefined,
    cycleSeconds: cycle.seconds,
    registryCheckSeconds: cycle.checkSeconds,
    actionSeconds: cycle.actSeconds,
    workloadsChecked: cycle.workloads,
    tagListRequests: counts.reduce((a, b) => a + b, 0),
    tagListsPerRepository: {
      min: Math.min(...counts),
      max: Math.max(...counts),
      repositoriesAsked: counts.length,
    },
    otherRegistryRequests: registry.other(),
    notificationPatches: patches,
    outdatedContainers: outdated,
    rssMiB: Number(mem.rssMiB.toFixed(1)),
    peakRssMiB: Number(mem.peakMiB.toFixed(1)),
    heapUsedMiB: Number(heapMiB.toFixed(1)),
    libraryBaselineRssMiB: Number(baseline.toFixed(1)),
    bytesPerWorkloadAboveBaseline: Math.round(((mem.rssMiB - baseline) * 2 ** 20) / WORKLOADS),
    nodeFlags: NODE_FLAGS,
    env: EXTRA_ENV,
    exitCodeAfterSigterm: code,
  };
  console.log(JSON.stringify(report, null, 2));
  await kube.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });

  const misses = [
    ...(exactlyOne ? [] : ['not exactly one tag list per repository']),
    ...(mem.peakMiB < RSS_TARGET_MIB
      ? []
      : [`peak RSS ${mem.peakMiB.toFixed(1)} MiB >= ${RSS_TARGET_MIB} MiB`]),
    ...(code === 0 ? [] : [`SIGTERM exit code ${String(code)}`]),
  ];
  for (const m of misses) console.log(`# MISS: ${m}`);
  process.exit(misses.length === 0 ? 0 : 1);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
