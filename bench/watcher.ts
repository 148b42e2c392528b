// Benchmark of one full check cycle: 5,000 Deployments over 1,000 repositories in the fake API
// server, a registry answering each tag list after 20 ms. The watcher runs as its own process
// (the bundle of scripts/bundle.ts, exactly what the image and `npm run start:watcher` run) so its
// RSS is its own, with the manifests' NODE_OPTIONS, the image's node flags and MALLOC_* settings
// (--node FLAG... replaces the flags, --env NAME=VALUE adds to the environment).
// Targets: exactly 1 tag-list request per repository, peak RSS under 128 MiB, under 3 KB retained
// per workload (RSS and heap that survive a full GC requested through the inspector, over the same
// watcher with no workload; the RSS 30 s after the cycle, garbage not yet returned included, is
// printed beside it).
//   node --import ./bench/register.js bench/watcher.ts [--workloads N] [--repos N] [--latency MS]
//     [--timeline] [--env NAME=VALUE]... [--node FLAG]...
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
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
/** The image's `ENV MALLOC_...` settings (Dockerfile.watcher): the default environment of the measured process. */
function imageMallocEnv(): Record<string, string> {
  const dockerfile = readFileSync(path.join(root, 'Dockerfile.watcher'), 'utf8');
  const line = /^ENV (MALLOC_.+)$/m.exec(dockerfile)?.[1] ?? '';
  return Object.fromEntries(
    line
      .split(' ')
      .filter((kv) => kv.includes('='))
      .map((kv) => kv.split('=') as [string, string]),
  );
}
/** Extra environment for the watcher, e.g. `--env REGISTRY_RATE_LIMIT=100`; over the image's MALLOC_* settings. */
const GIVEN_ENV = Object.fromEntries(
  process.argv.flatMap((a, i) => (process.argv[i - 1] === '--env' ? [a.split('=') as [string, string]] : [])),
);
const EXTRA_ENV = { ...imageMallocEnv(), ...GIVEN_ENV };
/** The NODE_OPTIONS the watcher's Deployment ships and the image's node flags: the default flags of the measured process. */
function shippedFlags(): string[] {
  const manifest = readFileSync(path.join(root, 'manifests', 'watcher', 'deployment.yaml'), 'utf8');
  const value = /name: NODE_OPTIONS\s+value: (.+)/.exec(manifest)?.[1] ?? '';
  // And the V8 flags of the image's ENTRYPOINT (NODE_OPTIONS does not accept them).
  const dockerfile = readFileSync(path.join(root, 'Dockerfile.watcher'), 'utf8');
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
  return [...value.split(' '), ...entrypoint.slice(1, -1)].filter((f) => f !== '');
}
/** Node flags for the watcher, e.g. `--node --max-semi-space-size=1`; the manifests' when none is given. */
const GIVEN_FLAGS = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--node' ? [a] : []));
const NODE_FLAGS = GIVEN_FLAGS.length > 0 ? GIVEN_FLAGS : shippedFlags();
/** BENCH_HEAP_SNAPSHOT=DIR: write a heap snapshot of the watcher after its cycle into DIR. */
const SNAPSHOT_DIR = process.env.BENCH_HEAP_SNAPSHOT;
if (SNAPSHOT_DIR !== undefined)
  NODE_FLAGS.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${SNAPSHOT_DIR}`);
/**
 * --timeline: also read RSS and heap used 1, 5, 10 and 30 s after the first cycle and, when the
 * interval is short enough for a second cycle in the run (`--env CHECK_INTERVAL=180s`), 1 and 30 s
 * after the second: whether the figure read 1 s after the cycle is a steady state (RSS is read
 * before each /metrics scrape, whose rendering leaves garbage).
 */
const TIMELINE = process.argv.includes('--timeline');
const TIMELINE_AT_S = [1, 5, 10];
/**
 * When the steady state is read: 30 s after the first cycle. Measured with --timeline (11 runs):
 * 1 s after the cycle the watcher is still allocating (likely the debounced re-checks of the
 * workloads its notifications patched): heap used 30.8-37.6 MiB, 31-38 MiB at 5 and 10 s, and
 * the RSS read at 1 s moved by 10 MiB run to run (112.1-122.8 MiB). By 30 s V8's memory reducer
 * had run in 10 of 11 runs (heap used 28.1-29.4 MiB, within 1 MiB of what survives a full GC);
 * in one it had not (31.8 MiB, 27.3 after the GC: 3.8 KB of RSS per workload), and 30 s after a
 * second cycle that run was at 27.9 MiB and 1.7 KB per workload.
 */
const STEADY_AFTER_S = 30;
const RSS_TARGET_MIB = 128;
/**
 * After the steady-state figures are read, the bench activates the watcher's inspector (SIGUSR1 on
 * this port; nothing listens before) and asks V8 for a full GC: what survives it is what a workload
 * retains, without the garbage and free heap a figure taken at a random moment includes.
 */
const INSPECT_FLAG = '--inspect-port=127.0.0.1:0';
/**
 * Retained per workload: (RSS after a full GC - the same with no workload) / workloads. The RSS
 * 30 s after the cycle is not a retained figure: V8's memory reducer does its GCs mid-cycle and
 * then stops (it starts again only when the heap has grown well past its last run), and the
 * cycle's last mark-compact leaves 5.5-10.3 MiB of committed heap free until the next one
 * (`--trace-gc --trace-memory-reducer`). So that read is bimodal: of 14 runs of the builds that cut the heap, 7 had
 * a GC between the cycle's end and the read (2,426-2,892 B per workload) and 7 did not
 * (3,179-3,971 B), while what survives a full GC moved by under 2 % (1,464-1,493 B of heap).
 */
const PER_WORKLOAD_TARGET_BYTES = 3 * 1024;

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

/** User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks of 1/100 s). */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
}

/**
 * Where the RSS is: anonymous and file-backed pages (/proc/PID/smaps_rollup), V8's committed heap
 * per space and the external (ArrayBuffer) memory from the watcher's default metrics. MiB.
 */
type Breakdown = Record<string, number>;
function breakdownOf(rollup: string, metrics: string): Breakdown {
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN) / 1024;
  const out: Breakdown = { anon: kb('Anonymous'), file: kb('Rss') - kb('Anonymous') - kb('Pss_Shmem') };
  for (const m of metrics.matchAll(/^nodejs_heap_space_size_(total|used)_bytes\{space="(\w+)"\} (\S+)/gm))
    out[`${m[2]!.replace('_space', '')}.${m[1]!}`] = Number(m[3]) / 2 ** 20;
  out.external = Number(/^nodejs_external_memory_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN) / 2 ** 20;
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v.toFixed(2))]));
}

interface RunResult {
  listSeconds?: number;
  cycle: { seconds: number; workloads: number };
  /** CPU seconds the watcher used from its start to the end of its first cycle. */
  cpuSeconds: number;
  rssMiB: number;
  peakMiB: number;
  heapMiB: number;
  /** Where the RSS read at the steady state is (see breakdownOf). */
  steadyBreakdown: Breakdown;
  /** After a full GC requested through the inspector (taken after the figures above). */
  gcRssMiB: number;
  gcHeapMiB: number;
  /** --timeline: RSS and heap used at moments after the first (and second) cycle. */
  timeline: { at: string; rssMiB: number; heapMiB: number; breakdown: Breakdown }[];
  outdated: number;
  tagLists: number[];
  otherRegistryRequests: number;
  patches: number;
  exitCode: number | null;
}

async function heapUsedMiB(httpPort: number): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN) / 2 ** 20;
}

/** Activates the child's inspector, has V8 collect all garbage, and reads RSS and heap used again. */
async function afterFullGc(
  child: ChildProcess,
  inspectorUrl: Promise<string>,
  httpPort: number,
): Promise<{ rssMiB: number; heapMiB: number }> {
  child.kill('SIGUSR1');
  const url = await Promise.race([
    inspectorUrl,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('the watcher did not open its inspector')), 10_000).unref(),
    ),
  ]);
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve());
    ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)));
  });
  const done = new Promise<void>((resolve) => {
    ws.addEventListener('message', (e: MessageEvent) => {
      if ((JSON.parse(String(e.data)) as { id?: number }).id === 1) resolve();
    });
  });
  ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
  await done;
  ws.close();
  // Let the allocator hand freed pages back (MALLOC_TRIM_THRESHOLD_) before reading RSS.
  await new Promise((r) => setTimeout(r, 1000));
  return { rssMiB: rssOf(child.pid!).rssMiB, heapMiB: await heapUsedMiB(httpPort) };
}

/** One watcher process (the bundle, as the image runs it) over `workloads` Deployments, until its first cycle is done. */
async function runWatcher(main: string, workloads: number): Promise<RunResult> {
  const registry = await startSlowRegistry();
  const kube = await startFakeKube({ rolloutDelayMs: 20 });
  const objects = [];
  for (let i = 0; i < workloads; i++)
    objects.push(deployment(i, `${registry.host}/bench/repo-${i % REPOS}:1.0.0`));
  kube.seed(objects);
  const dir = mkdtempSync(path.join(tmpdir(), 'iw-bench-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kube.kubeConfig().exportConfig());
  const httpPort = await freePort();

  const started = Date.now();
  const child = spawn(process.execPath, [...NODE_FLAGS, INSPECT_FLAG, main], {
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
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const inspectorUrl = new Promise<string>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderr += text;
      const url = /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
      if (url !== undefined) resolve(url);
      // The inspector's own banner is ours; anything else is the watcher's and is shown.
      for (const line of text.split('\n')) {
        if (line !== '' && !/Debugger (listening|ending|attached)|For help, see/.test(line))
          process.stderr.write(`${line}\n`);
      }
    });
  });
  let listedAt = 0;
  let cycle: RunResult['cycle'] | undefined;
  let buffer = '';
  let secondCycleDone!: () => void;
  const secondCycle = new Promise<void>((resolve) => {
    secondCycleDone = resolve;
  });
  const cycleDone = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const rec = JSON.parse(line) as { msg?: string; seconds?: number; workloads?: number };
          if (rec.msg === 'workloads listed; watching') listedAt = Date.now();
          if (rec.msg === 'check cycle done' && cycle) secondCycleDone();
          if (rec.msg === 'check cycle done' && !cycle) {
            cycle = { seconds: rec.seconds ?? NaN, workloads: rec.workloads ?? 0 };
            resolve();
          }
        } catch {
          // not a log record
        }
      }
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 600_000).unref());
  await Promise.race([cycleDone, exited, timeout]);
  if (!cycle) throw new Error('the watcher did not finish a cycle');
  const cpuSeconds = cpuSecondsOf(child.pid!);
  const timeline: RunResult['timeline'] = [];
  const sample = async (at: string) => {
    // RSS first: rendering /metrics (5,000 series) itself leaves MiBs of garbage.
    const rssMiB = rssOf(child.pid!).rssMiB;
    const rollup = readFileSync(`/proc/${child.pid!}/smaps_rollup`, 'utf8');
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
    timeline.push({ at, rssMiB, heapMiB: heap, breakdown: breakdownOf(rollup, text) });
    return text;
  };
  let waited = 0;
  for (const at of TIMELINE ? TIMELINE_AT_S.filter((s) => s < STEADY_AFTER_S) : []) {
    await new Promise((r) => setTimeout(r, (at - waited) * 1000));
    waited = at;
    await sample(`cycle+${at}s`);
  }
  // The steady state: the watcher is idle again and V8's memory
  // reducer has collected (see STEADY_AFTER_S).
  await new Promise((r) => setTimeout(r, (STEADY_AFTER_S - waited) * 1000));
  const mem = rssOf(child.pid!);
  const metrics = await sample(`cycle+${STEADY_AFTER_S}s`);
  const heapMiB = timeline.at(-1)!.heapMiB;
  const steadyBreakdown = timeline.at(-1)!.breakdown;
  if (!TIMELINE) timeline.pop();
  const outdated = (metrics.match(/^image_watcher_image_outdated\{.*\} 1$/gm) ?? []).length;
  if (TIMELINE && 'CHECK_INTERVAL' in GIVEN_ENV) {
    await Promise.race([secondCycle, exited]);
    await new Promise((r) => setTimeout(r, 1000));
    await sample('cycle2+1s');
    await new Promise((r) => setTimeout(r, 29_000));
    await sample('cycle2+30s');
  }
  const gc = await afterFullGc(child, inspectorUrl, httpPort);
  if (SNAPSHOT_DIR !== undefined && workloads > 0) {
    // Profiling aid: a heap snapshot of the steady state (the child runs with --heapsnapshot-signal).
    child.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 20_000));
  }
  child.kill('SIGTERM');
  const exitCode = await exited;
  const result: RunResult = {
    ...(listedAt ? { listSeconds: (listedAt - started) / 1000 } : {}),
    cycle,
    cpuSeconds,
    rssMiB: mem.rssMiB,
    peakMiB: mem.peakMiB,
    heapMiB,
    steadyBreakdown,
    gcRssMiB: gc.rssMiB,
    gcHeapMiB: gc.heapMiB,
    timeline,
    outdated,
    tagLists: [...registry.tagLists.values()],
    otherRegistryRequests: registry.other(),
    patches: kube.requestsMatching({ method: 'PATCH' }).length,
    exitCode,
  };
  await kube.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
  return result;
}

async function main(): Promise<void> {
  const out = path.join(root, 'node_modules', '.cache', 'image-watcher-bench');
  console.log(
    `bundling the watcher to ${path.relative(root, out)} (scripts/bundle.ts, as npm run build) ...`,
  );
  // New files, never written over: a checkout whose node_modules is hard-linked from another
  // (git worktrees) would otherwise rewrite the other checkout's bundle too.
  rmSync(out, { recursive: true, force: true });
  const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'bundle.ts'), '--outdir', out], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (built.status !== 0) throw new Error('scripts/bundle.ts failed');
  const main = path.join(out, 'watcher', 'main.js');

  // The same watcher with no workload: what the workloads add is measured above it.
  const empty = await runWatcher(main, 0);
  const run = await runWatcher(main, WORKLOADS);
  const baseline = baselineMiB();
  const counts = run.tagLists;
  const exactlyOne = counts.length === REPOS && counts.every((c) => c === 1);
  const perWorkloadBytes = Math.round(((run.rssMiB - empty.rssMiB) * 2 ** 20) / WORKLOADS);
  const heapPerWorkloadBytes = Math.round(((run.heapMiB - empty.heapMiB) * 2 ** 20) / WORKLOADS);
  const retainedHeapBytes = Math.round(((run.gcHeapMiB - empty.gcHeapMiB) * 2 ** 20) / WORKLOADS);
  const retainedRssBytes = Math.round(((run.gcRssMiB - empty.gcRssMiB) * 2 ** 20) / WORKLOADS);
  const report = {
    note:
      'rss is the whole watcher process (the bundle); bytesPerWorkload is (RSS 30 s after the cycle - RSS of the same ' +
      'watcher with no workload 30 s after its cycle) / workloads; afterFullGc: the same after a full GC requested through ' +
      'the inspector, taken after the other figures; libraryBaselineRssMiB loads the unbundled libraries alone',
    workloads: WORKLOADS,
    repositories: REPOS,
    registryLatencyMs: LATENCY_MS,
    listSeconds: run.listSeconds,
    cycleSeconds: run.cycle.seconds,
    workloadsChecked: run.cycle.workloads,
    cpuSecondsToFirstCycle: run.cpuSeconds,
    tagListRequests: counts.reduce((a, b) => a + b, 0),
    tagListsPerRepository: {
      min: Math.min(...counts),
      max: Math.max(...counts),
      repositoriesAsked: counts.length,
    },
    otherRegistryRequests: run.otherRegistryRequests,
    notificationPatches: run.patches,
    outdatedContainers: run.outdated,
    rssMiB: Number(run.rssMiB.toFixed(1)),
    peakRssMiB: Number(run.peakMiB.toFixed(1)),
    heapUsedMiB: Number(run.heapMiB.toFixed(1)),
    emptyWatcherRssMiB: Number(empty.rssMiB.toFixed(1)),
    emptyWatcherPeakRssMiB: Number(empty.peakMiB.toFixed(1)),
    emptyWatcherHeapUsedMiB: Number(empty.heapMiB.toFixed(1)),
    libraryBaselineRssMiB: Number(baseline.toFixed(1)),
    bytesPerWorkload: perWorkloadBytes,
    heapBytesPerWorkload: heapPerWorkloadBytes,
    // Where that RSS is: V8's committed (total) and used heap per space, MiB, with and without workloads.
    steadyBreakdown: run.steadyBreakdown,
    emptyWatcherSteadyBreakdown: empty.steadyBreakdown,
    afterFullGc: {
      rssMiB: Number(run.gcRssMiB.toFixed(1)),
      heapUsedMiB: Number(run.gcHeapMiB.toFixed(1)),
      emptyWatcherRssMiB: Number(empty.gcRssMiB.toFixed(1)),
      emptyWatcherHeapUsedMiB: Number(empty.gcHeapMiB.toFixed(1)),
      rssBytesPerWorkload: retainedRssBytes,
      heapBytesPerWorkload: retainedHeapBytes,
    },
    ...(TIMELINE
      ? {
          timeline: run.timeline.map((t, i) => {
            const e = empty.timeline[i];
            return {
              at: t.at,
              rssMiB: Number(t.rssMiB.toFixed(1)),
              heapUsedMiB: Number(t.heapMiB.toFixed(1)),
              ...(e
                ? { rssBytesPerWorkload: Math.round(((t.rssMiB - e.rssMiB) * 2 ** 20) / WORKLOADS) }
                : {}),
              ...(e
                ? { heapBytesPerWorkload: Math.round(((t.heapMiB - e.heapMiB) * 2 ** 20) / WORKLOADS) }
                : {}),
              breakdown: t.breakdown,
              ...(e ? { emptyBreakdown: e.breakdown } : {}),
            };
          }),
        }
      : {}),
    nodeFlags: NODE_FLAGS,
    env: EXTRA_ENV,
    exitCodeAfterSigterm: run.exitCode,
  };
  console.log(JSON.stringify(report));
  const verdicts = [
    {
      target: 'exactly 1 tag list per repository',
      met: exactlyOne,
      figure: `${report.tagListRequests} for ${REPOS} (min ${report.tagListsPerRepository.min}, max ${report.tagListsPerRepository.max})`,
    },
    {
      target: `peak RSS < ${RSS_TARGET_MIB} MiB at ${WORKLOADS} workloads`,
      met: run.peakMiB < RSS_TARGET_MIB,
      figure: `peak ${run.peakMiB.toFixed(1)} MiB (after the cycle ${run.rssMiB.toFixed(1)}, no workload ${empty.rssMiB.toFixed(1)})`,
    },
    {
      target: `retained memory per workload < ${PER_WORKLOAD_TARGET_BYTES} B (after a full GC)`,
      met: retainedRssBytes < PER_WORKLOAD_TARGET_BYTES && retainedHeapBytes < PER_WORKLOAD_TARGET_BYTES,
      figure: `${retainedRssBytes} B of RSS, ${retainedHeapBytes} B of heap (30 s after the cycle, before the GC: ${perWorkloadBytes} B of RSS, ${heapPerWorkloadBytes} B of heap used)`,
    },
    { target: 'exit 0 on SIGTERM', met: run.exitCode === 0, figure: `exit ${String(run.exitCode)}` },
  ];
  for (const v of verdicts) console.log(`${v.met ? 'MET   ' : 'MISSED'} ${v.target}: ${v.figure}`);
  process.exit(verdicts.every((v) => v.met) ? 0 : 1);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
