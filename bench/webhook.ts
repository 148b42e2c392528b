// Benchmark of the admission webhook over TLS against a bare fastify route, same certificate,
// same run. Usage: npm run build && node --import ./bench/register.js bench/webhook.ts
// Prints a table and a JSON line. `ratio` is wall-clock max throughput (noisy on a shared machine);
// `CPU ratio` is bare-route CPU time per request over the webhook's: the one-core capacity ratio,
// the median of rounds in which both servers take the same load at once on the same core (the
// machine's speed then moves both alike); the median of alternating rounds is printed beside it.
// Latency at 500 req/s comes from an open-loop generator (constant-rate.ts) sending one request
// every 2 ms: autocannon's overallRate sends each second's quota in a burst at its start.
// Targets: CPU per request within 10% of the bare route (CPU ratio >= 0.9, median of the rounds) at
// 20 KB and 200 KB; p99 < 10 ms at 500 req/s at 20 KB and not above the bare route's p99 at 200 KB
// (median of alternating rounds);
// memory within the shipped Deployment's resources (idle RSS under its memory request, peak RSS
// under its memory limit); no failed request; start to /readyz under 1 s (median of 5 starts).
// Ends with one MET/MISSED line per target; exits 1 when any is missed. Node flags default to the
// manifests'.
// The memory target replaced a first-wave "peak RSS < 64 MiB" that was never in the issue and is
// below what node with fastify and TLS needs before any request (idle ~73 MiB, ~27 MiB of it
// private; the rest is the node binary's mapped pages). What matters in a cluster is the pod's
// resources: the scheduler reserves the request, so an idle replica must fit in it, and the kernel
// kills the pod at the limit, so the heaviest load here (ten connections of 200 KB reviews at full
// speed) must stay under it. Both figures are read from manifests/webhook/deployment.yaml.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { WEBHOOK_LIMITS } from '../webhook/app.ts';
import { generateSelfSigned, webhookHosts } from '../webhook/self-signed.ts';
import { constantRate } from './webhook/constant-rate.ts';
import type { ConstantRateResult } from './webhook/constant-rate.ts';
import { reviewOfSize } from './webhook/reviews.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** BENCH_WEBHOOK_MAIN: another build of the webhook (e.g. tsc's unbundled emit) for an A/B run. */
const MAIN = process.env.BENCH_WEBHOOK_MAIN ?? join(ROOT, 'dist/webhook/main.js');
/** The NODE_OPTIONS the webhook's Deployment ships. */
function shippedFlags(): string {
  const manifest = readFileSync(join(ROOT, 'manifests/webhook/deployment.yaml'), 'utf8');
  return /name: NODE_OPTIONS\s+value: (.+)/.exec(manifest)?.[1] ?? '';
}
/** The webhook container's memory request and limit (Mi) in the shipped Deployment. */
function shippedMemory(): { requestMiB: number; limitMiB: number } {
  const manifest = readFileSync(join(ROOT, 'manifests/webhook/deployment.yaml'), 'utf8');
  const m = /requests:\s+cpu: \S+\s+memory: (\d+)Mi\s+limits:\s+cpu: \S+\s+memory: (\d+)Mi/.exec(manifest);
  if (m === null)
    throw new Error('bench/webhook: no memory request/limit in manifests/webhook/deployment.yaml');
  return { requestMiB: Number(m[1]), limitMiB: Number(m[2]) };
}
const RATE = 500;
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 6);
/** Constant-rate rounds per body size and server, alternating; the p99 figure is the median round's. */
const RATE_ROUNDS = Number(process.env.BENCH_RATE_ROUNDS ?? 5);
/** Max-throughput runs alternate webhook and bare route in short rounds, so load from other processes hits both alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 2);
/**
 * Rounds with both servers loaded at once (each gets half the core, so twice as long). On this
 * VM a server's CPU per request moves by up to 60 % from one 2 s round to the next (the bare route
 * alone 116-208 us at 20 KB on a quiet machine), so the ratio of adjacent alternating rounds
 * ranged 0.54-1.15 within one run; loaded together, a build against itself reads 0.98-1.04 and
 * the webhook against the bare route moved by under 0.03 between rounds.
 */
const TOGETHER_ROUNDS = Number(process.env.BENCH_TOGETHER_ROUNDS ?? 7);
const TOGETHER_SECONDS = Number(process.env.BENCH_TOGETHER_SECONDS ?? 4);
/**
 * Node flags for both servers, e.g. BENCH_NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=160"
 * (what the image ships): heap settings change a bare route's throughput too (~10-20% for these),
 * so the ratio compares the webhook's code against a bare route on the same runtime settings.
 */
const NODE_FLAGS = (process.env.BENCH_NODE_OPTIONS ?? shippedFlags()).split(' ').filter((f) => f !== '');
const CONNECTIONS = 10;
const MiB = 1024 * 1024;
const P99_TARGET_MS = 10;
const CPU_RATIO_TARGET = 0.9;
const STARTUP_TARGET_MS = 1000;
const STARTS = 5;
const MEMORY = shippedMemory();

if (!existsSync(MAIN)) {
  console.error('bench/webhook: dist/webhook/main.js is missing; run `npm run build` first');
  process.exit(2);
}

// Both servers on the same single core, so the comparison is one core against one core.
const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
const pin = hasTaskset ? ['taskset', '-c', process.env.BENCH_CPU ?? '0'] : [];
// The load generator (this process) on the other core, so it never takes the servers' CPU.
if (hasTaskset)
  spawnSync('taskset', ['-a', '-p', '-c', process.env.BENCH_CLIENT_CPU ?? '1', String(process.pid)]);

function start(
  args: string[],
  env: Record<string, string>,
  ready: (line: Record<string, unknown>) => number | undefined,
) {
  const [cmd, ...rest] = [...pin, process.execPath, ...args];
  const child = spawn(cmd!, rest, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise<{ child: ChildProcess; port: number }>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let port: number | undefined;
        try {
          port = ready(JSON.parse(line) as Record<string, unknown>);
        } catch {
          continue;
        }
        if (port !== undefined) {
          // Keep draining stdout (logs) so the child never blocks on a full pipe.
          child.stdout.off('data', onData);
          child.stdout.resume();
          resolve({ child, port });
          return;
        }
      }
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

/** Resident memory of a process (its node child when pinned through taskset, which execs). */
function rss(pid: number): { rss: number; peak: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  // RssAnon: the process's private memory, without the ~34 MiB of the node binary's mapped pages.
  return { rss: kb('VmRSS'), peak: kb('VmHWM'), anon: kb('RssAnon') };
}

/**
 * CPU seconds (user + system) a process has used. On a machine shared with other work, CPU time
 * per request is a steadier capacity measure than wall-clock req/s.
 */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

async function load(port: number, body: string, opts: { rate?: number; seconds: number; pid?: number }) {
  const cpuBefore = opts.pid !== undefined ? cpuSeconds(opts.pid) : 0;
  const result = await autocannon({
    url: `https://127.0.0.1:${port}/mutate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    // The webhook closes a connection after this many requests (so replicas share the API
    // server's load) and answers 503 to any sent after it on that connection; the API server
    // reconnects, autocannon must be told to. Both servers get the same reconnects.
    reconnectRate: WEBHOOK_LIMITS.maxRequestsPerSocket,
    duration: opts.seconds,
    ...(opts.rate !== undefined ? { overallRate: opts.rate } : {}),
  });
  const failed = result.errors + result.timeouts + result.non2xx;
  const cpu = opts.pid !== undefined ? cpuSeconds(opts.pid) - cpuBefore : 0;
  return {
    rps: Math.round(result.requests.average),
    cpuMsPerRequest: result.requests.total > 0 ? (cpu * 1000) / result.requests.total : 0,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed,
  };
}

/** The element whose key is the median of the keys (the lower middle for an even count). */
function medianBy<T>(xs: readonly T[], key: (x: T) => number): T {
  const sorted = [...xs].sort((a, b) => key(a) - key(b));
  const middle = sorted[Math.floor((sorted.length - 1) / 2)];
  if (middle === undefined) throw new Error('bench/webhook: no rounds');
  return middle;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const dir = mkdtempSync(join(tmpdir(), 'iw-bench-'));
const cert = generateSelfSigned({
  hosts: webhookHosts('image-watcher-webhook', 'image-watcher'),
  now: new Date(),
});
writeFileSync(join(dir, 'tls.crt'), cert.cert);
writeFileSync(join(dir, 'tls.key'), cert.key);
/** The webhook's environment in every start below: free ports, the bench's certificate. */
const WEBHOOK_ENV = {
  WEBHOOK_PORT: '0',
  HTTP_PORT: '0',
  LOG_LEVEL: 'INFO',
  TLS_CERT_FILE: join(dir, 'tls.crt'),
  TLS_KEY_FILE: join(dir, 'tls.key'),
};

/** Milliseconds from spawning the webhook to its first 200 on /readyz (polled every 5 ms). */
async function startupMs(): Promise<number> {
  const t0 = performance.now();
  const started = await start(
    [...NODE_FLAGS, MAIN],
    WEBHOOK_ENV,
    (line) => line.httpPort as number | undefined,
  );
  try {
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${started.port}/readyz`).catch(() => undefined);
      if (res?.status === 200) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    const exited = new Promise((r) => started.child.once('exit', r));
    started.child.kill('SIGTERM');
    await exited;
  }
}
const startups: number[] = [];
for (let i = 0; i < STARTS; i++) startups.push(await startupMs());

const webhook = await start(
  [...NODE_FLAGS, MAIN],
  WEBHOOK_ENV,
  (line) => line.webhookPort as number | undefined,
);
const bare = await start(
  [...NODE_FLAGS, '--import', './bench/register.js', 'bench/webhook/bare.ts'],
  { CERT_FILE: join(dir, 'tls.crt'), KEY_FILE: join(dir, 'tls.key'), TS_NODE_TRANSPILE_ONLY: '1' },
  (line) => line.port as number | undefined,
);
const rows: Record<string, unknown>[] = [];
const targets: {
  body: string;
  p99: number;
  bareP99: number;
  ratio: number;
  cpuRatio: number;
  alternatingCpuRatio: number;
  failed: number;
}[] = [];
try {
  const idle = rss(webhook.child.pid!);
  for (const [label, bytes] of [
    ['20 KB', 20_000],
    ['200 KB', 200_000],
  ] as const) {
    const body = reviewOfSize(bytes);
    await load(webhook.port, body, { seconds: 1 }); // warm-up: JIT and TLS session setup
    await load(bare.port, body, { seconds: 1 });
    const at = (port: number) =>
      constantRate({
        url: `https://127.0.0.1:${port}/mutate`,
        body,
        rate: RATE,
        seconds: RATE_SECONDS,
        connections: CONNECTIONS,
      });
    // p99 over one 6 s window swings 1-55 ms on this VM for either server (host stalls of tens
    // of ms): rounds alternate webhook and bare route, and the median round's p99 is the figure.
    const ratedRounds: ConstantRateResult[] = [];
    const bareRatedRounds: ConstantRateResult[] = [];
    for (let r = 0; r < RATE_ROUNDS; r++) {
      ratedRounds.push(await at(webhook.port));
      bareRatedRounds.push(await at(bare.port));
    }
    const rated = medianBy(ratedRounds, (x) => x.p99);
    const bareRated = medianBy(bareRatedRounds, (x) => x.p99);
    const webhookRounds: number[] = [];
    const bareRounds: number[] = [];
    const webhookCpu: number[] = [];
    const bareCpu: number[] = [];
    let failed = ratedRounds.reduce((n, x) => n + x.failed, 0);
    for (let r = 0; r < ROUNDS; r++) {
      const w = await load(webhook.port, body, { seconds: ROUND_SECONDS, pid: webhook.child.pid! });
      const b = await load(bare.port, body, { seconds: ROUND_SECONDS, pid: bare.child.pid! });
      webhookRounds.push(w.rps);
      bareRounds.push(b.rps);
      webhookCpu.push(w.cpuMsPerRequest);
      bareCpu.push(b.cpuMsPerRequest);
      failed += w.failed + b.failed;
    }
    const maxWebhook = median(webhookRounds);
    const maxBare = median(bareRounds);
    const cpuWebhook = median(webhookCpu);
    const cpuBare = median(bareCpu);
    // For comparison: the ratio of each webhook round to the bare round right after it, then the
    // median. The machine's speed drifts between rounds (see TOGETHER_SECONDS).
    const alternatingCpuRatio = median(bareCpu.map((b, i) => b / webhookCpu[i]!));
    // The figure: both servers under the same load at the same time, on the same core.
    const togetherRatios: number[] = [];
    for (let r = 0; r < TOGETHER_ROUNDS; r++) {
      const [w, b] = await Promise.all([
        load(webhook.port, body, { seconds: TOGETHER_SECONDS, pid: webhook.child.pid! }),
        load(bare.port, body, { seconds: TOGETHER_SECONDS, pid: bare.child.pid! }),
      ]);
      togetherRatios.push(b.cpuMsPerRequest / w.cpuMsPerRequest);
      failed += w.failed + b.failed;
    }
    const cpuRatio = median(togetherRatios);
    const mem = rss(webhook.child.pid!);
    targets.push({
      body: label,
      p99: rated.p99,
      bareP99: bareRated.p99,
      ratio: maxWebhook / maxBare,
      cpuRatio,
      alternatingCpuRatio,
      failed,
    });
    rows.push({
      body: `${label} (${body.length} B)`,
      [`req/s @${RATE}`]: rated.rps,
      'p50 ms': rated.p50,
      'p99 ms': rated.p99,
      'bare p99 ms': bareRated.p99,
      'p99 rounds': ratedRounds.map((x) => x.p99).join('/'),
      'bare p99 rounds': bareRatedRounds.map((x) => x.p99).join('/'),
      'max req/s': maxWebhook,
      'bare req/s': maxBare,
      ratio: Number((maxWebhook / maxBare).toFixed(2)),
      'CPU ms/req': Number(cpuWebhook.toFixed(3)),
      'bare CPU ms/req': Number(cpuBare.toFixed(3)),
      // Requests one dedicated core could serve, webhook against bare route: immune to other load.
      'CPU ratio': Number(cpuRatio.toFixed(2)),
      'CPU ratio rounds': togetherRatios.map((x) => x.toFixed(2)).join('/'),
      'alternating CPU ratio': Number(alternatingCpuRatio.toFixed(2)),
      'alternating rounds': bareCpu.map((b, i) => (b / webhookCpu[i]!).toFixed(2)).join('/'),
      'RSS MiB': Number((mem.rss / MiB).toFixed(1)),
      'anon MiB': Number((mem.anon / MiB).toFixed(1)),
      failed,
    });
  }
  const peak = rss(webhook.child.pid!).peak;
  const anonAfter = rss(webhook.child.pid!).anon;
  const bareMem = rss(bare.child.pid!);
  console.table(rows);
  console.log(
    `webhook RSS idle ${(idle.rss / MiB).toFixed(1)} MiB (anon ${(idle.anon / MiB).toFixed(1)}), ` +
      `peak ${(peak / MiB).toFixed(1)} MiB, anon after load ${(anonAfter / MiB).toFixed(1)} MiB; ` +
      `bare route RSS peak ${(bareMem.peak / MiB).toFixed(1)} MiB (loaded through the TS loader); ` +
      `pinned: ${pin.length > 0 ? pin.join(' ') : 'no'}; node flags (both servers): ${NODE_FLAGS.join(' ') || 'none'}; ` +
      `node ${process.version}; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  // One verdict line per target; the exit code is non-zero when any is missed.
  const verdicts: { target: string; met: boolean; figure: string }[] = [
    ...targets.flatMap((r) => [
      r.body === '20 KB'
        ? {
            target: `${r.body}: p99 < ${P99_TARGET_MS} ms at ${RATE} req/s`,
            met: r.p99 < P99_TARGET_MS,
            figure: `p99 ${r.p99} ms (bare route ${r.bareP99} ms; median of ${RATE_ROUNDS} rounds)`,
          }
        : {
            target: `${r.body}: p99 at ${RATE} req/s not above the bare route's`,
            met: r.p99 <= r.bareP99,
            figure: `p99 ${r.p99} ms (bare route ${r.bareP99} ms; median of ${RATE_ROUNDS} rounds)`,
          },
      {
        target: `${r.body}: CPU per request within 10% of the bare route (CPU ratio >= ${CPU_RATIO_TARGET})`,
        met: r.cpuRatio >= CPU_RATIO_TARGET,
        figure: `CPU ratio ${r.cpuRatio.toFixed(2)} (median of ${TOGETHER_ROUNDS} rounds with both servers loaded at once; alternating rounds ${r.alternatingCpuRatio.toFixed(2)}, throughput ratio ${r.ratio.toFixed(2)})`,
      },
      {
        target: `${r.body}: no failed requests`,
        met: r.failed === 0,
        figure: `${r.failed} failed`,
      },
    ]),
    {
      target: `idle RSS < the Deployment's memory request (${MEMORY.requestMiB} MiB)`,
      met: idle.rss / MiB < MEMORY.requestMiB,
      figure: `idle ${(idle.rss / MiB).toFixed(1)} MiB, of which ${(idle.anon / MiB).toFixed(1)} MiB private`,
    },
    {
      target: `peak RSS < the Deployment's memory limit (${MEMORY.limitMiB} MiB)`,
      met: peak / MiB < MEMORY.limitMiB,
      figure: `peak ${(peak / MiB).toFixed(1)} MiB`,
    },
    {
      target: `start to /readyz < ${STARTUP_TARGET_MS} ms (median of ${STARTS} starts)`,
      met: median(startups) < STARTUP_TARGET_MS,
      figure: `median ${median(startups).toFixed(0)} ms (${startups.map((m) => m.toFixed(0)).join(', ')})`,
    },
  ];
  const misses = verdicts.filter((v) => !v.met).map((v) => `${v.target}: ${v.figure}`);
  console.log(
    JSON.stringify({
      rows,
      idleRss: idle.rss,
      peakRss: peak,
      memoryRequestMiB: MEMORY.requestMiB,
      memoryLimitMiB: MEMORY.limitMiB,
      startupMs: startups,
      nodeFlags: NODE_FLAGS,
      misses,
    }),
  );
  for (const v of verdicts) console.log(`${v.met ? 'MET   ' : 'MISSED'} ${v.target}: ${v.figure}`);
  console.log(
    misses.length === 0
      ? 'bench/webhook: all targets met'
      : `bench/webhook: ${misses.length} of ${verdicts.length} targets missed`,
  );
  // Like the other benchmarks: a missed target fails `npm run bench`.
  process.exitCode = misses.length > 0 ? 1 : 0;
} finally {
  webhook.child.kill('SIGTERM');
  bare.child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
