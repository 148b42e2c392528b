// Slow-body attack on a server process: N connections each send a body of SIZE bytes but for its
// last byte, then hold it. Prints the server's peak RSS (VmHWM) once every connection has either
// sent what it could or been closed, and after HOLD_MS more.
//   node --import ./bench/register.js bench/inbound-attack.ts webhook 30 7235174
//   node --import ./bench/register.js bench/inbound-attack.ts watcher 300 1048576
// The server runs as a child with the shipped NODE_OPTIONS (manifests/*/deployment.yaml).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { pathToFileURL } from 'node:url';

export type Target = 'webhook' | 'watcher';

export const heapFlags = (target: Target): string =>
  target === 'webhook'
    ? '--max-semi-space-size=8 --max-old-space-size=160'
    : '--max-semi-space-size=1 --max-old-space-size=160';

/**
 * The server as a child process on ports the kernel picks (port 0), and the port it attacks, read
 * back from the server's own start-up line: a port chosen before the server binds it (a fixed or a
 * probed one) could be taken meanwhile by anything else on the machine, and the server would fail
 * with E_LISTEN.
 */
export async function startTarget(
  target: Target,
  opts: { built?: boolean; timeoutMs?: number } = {},
): Promise<{ child: ChildProcess; port: number }> {
  // With BUILT=1, the compiled dist/ (as shipped: `npm run build`); else the TypeScript sources
  // through the test loader, which adds the transpiler's own ~100 MiB to every figure.
  const built = opts.built ?? false;
  const src = (p: string): string => (built ? `./dist/${p}.js` : `./${p}.ts`);
  const loader = built ? [] : ['--import', '@tapjs/typescript/import'];
  const script =
    target === 'webhook'
      ? [src('webhook/main')]
      : [
          '--input-type=module',
          '-e',
          // The watcher's HTTP app alone (no cluster needed): what the attack reaches.
          `const { build } = await import('${src('watcher/http/app')}');
           const { WatcherMetrics } = await import('${src('watcher/metrics')}');
           const snap = { kind: 'Deployment', namespace: 'shop', name: 'web', annotations: {}, containers: [] };
           const app = await build({ api: { workloads: () => [], snapshot: () => snap, manualUpdate: async () => ({ status: 'updated', changes: [] }) },
             registry: { listTags: async () => [] }, metrics: new WatcherMetrics(), ready: () => true });
           await app.listen({ port: 0, host: '127.0.0.1' });
           console.log(JSON.stringify({ msg: 'listening', port: app.server.address().port }));`,
        ];
  const child = spawn(process.execPath, [...heapFlags(target).split(' '), ...loader, ...script], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      WEBHOOK_PORT: '0',
      HTTP_PORT: '0',
      LOG_LEVEL: target === 'webhook' ? 'INFO' : 'ERROR',
      TS_NODE_TRANSPILE_ONLY: '1',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Ready: the webhook logs `webhookPort` when it listens; the watcher script prints its `port`.
  const key = target === 'webhook' ? 'webhookPort' : 'port';
  let out = '';
  let listening = false;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${target} did not listen:\n${out}`)),
      opts.timeoutMs ?? 60_000,
    );
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.once('exit', (code, signal) => {
      if (!listening) fail(new Error(`${target} exited (${code ?? signal}):\n${out}`));
    });
    // Read on after the port too: a pipe nobody drains would stall the server's log writes.
    child.stdout.on('data', (c: Buffer) => {
      if (listening) return;
      out += c.toString();
      for (const line of out.split('\n')) {
        const found = portIn(line, key);
        if (found === undefined) continue;
        listening = true;
        clearTimeout(timer);
        resolve(found);
        return;
      }
    });
  });
  return { child, port };
}

/** The bound port in one JSON log line, or undefined. */
function portIn(line: string, key: string): number | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const found = (JSON.parse(line) as Record<string, unknown>)[key];
    return typeof found === 'number' && found > 0 ? found : undefined;
  } catch {
    return undefined; // a partial line: the rest follows
  }
}

async function main(): Promise<void> {
  const [target = 'webhook', countArg = '30', sizeArg = String(Math.floor(6.9 * 1024 * 1024))] =
    process.argv.slice(2);
  if (target !== 'webhook' && target !== 'watcher') throw new Error(`target ${target}: webhook or watcher`);
  const count = Number(countArg);
  const size = Number(sizeArg);
  const HOLD_MS = Number(process.env.HOLD_MS ?? 3000);
  const heap = heapFlags(target);
  const { child, port } = await startTarget(target, { built: process.env.BUILT === '1' });
  const pid = child.pid!;
  const hwm = (): number => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Math.round(Number(m?.[1] ?? 0) / 1024);
  };
  const idle = hwm();

  const path = target === 'webhook' ? '/mutate' : '/api/v1/workloads/shop/deployment/web/update';
  const head =
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${size}\r\n\r\n`;
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let refused = 0;
  const sockets: Socket[] = [];
  const senders = Promise.all(
    Array.from({ length: count }, async () => {
      const s: Socket =
        target === 'webhook'
          ? connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false })
          : connectTcp({ host: '127.0.0.1', port });
      sockets.push(s);
      s.setMaxListeners(0);
      s.on('error', () => undefined);
      // Any answer (a refusal), an end or a close stops the sender.
      let closed = false;
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const halt = (): void => {
        closed = true;
        stop();
      };
      s.on('close', halt);
      s.on('end', halt);
      s.on('data', (d: Buffer) => {
        if (/^HTTP\/1\.1 (4|5)\d\d/.test(d.toString('latin1'))) refused += 1;
        halt();
      });
      await once(s, target === 'webhook' ? 'secureConnect' : 'connect');
      s.write(head);
      let left = size - 1;
      while (left > 0 && !closed) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!s.write(chunk.subarray(0, n))) {
          await Promise.race([once(s, 'drain'), stopped]);
        }
      }
    }),
  );
  // Senders stuck on a server that stopped reading (refused, held) end at the deadline.
  await Promise.race([senders.catch(() => undefined), new Promise((r) => setTimeout(r, 20_000))]);
  const sent = hwm();
  await new Promise((r) => setTimeout(r, HOLD_MS));
  const peak = hwm();
  console.log(
    JSON.stringify({
      target,
      count,
      size,
      heap,
      idleMiB: idle,
      afterSendMiB: sent,
      peakMiB: peak,
      refused,
      alive: child.exitCode === null,
    }),
  );
  for (const s of sockets) s.destroy();
  child.kill('SIGKILL');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
