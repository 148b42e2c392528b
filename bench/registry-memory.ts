// Memory of the registry client under the hostile-registry attacks of the hardening review, with the
// shipped heap flags. The hostile registries run in a child process so only the client is measured.
// Run: node --max-semi-space-size=1 --max-old-space-size=160 --import ./bench/register.js bench/registry-memory.ts
//      [--registries 4] [--concurrency 4]
// Exit 1 when the peak RSS passes 384 MiB (the Deployment's limit) or a list ends other than typed.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { parseImageReference } from '../shared/image-ref.ts';
import { OciRegistryClient } from '../watcher/registry/client.ts';
import { RegistryError } from '../watcher/registry/errors.ts';

const MiB = 1024 * 1024;

/** Child: one hostile registry per port. Paths pick the attack. */
function hostile(): void {
  const big = Buffer.alloc(64 * 1024, 'a');
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const page = Number(url.searchParams.get('page') ?? '0');
    const repo = url.pathname.split('/')[2] ?? '';
    if (repo.startsWith('huge')) {
      // 15 MiB pages, streamed.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"tags":["');
      let sent = 0;
      const pump = (): void => {
        while (sent < 15 * MiB) {
          sent += big.length;
          if (!res.write(big)) return void res.once('drain', pump);
        }
        res.end('"]}');
      };
      res.on('close', () => res.removeAllListeners('drain'));
      return pump();
    }
    const width = repo.startsWith('long') ? 150 : 128;
    // 'valid' repositories: 40,000 tags of 128 characters (6.9 MiB estimated), under the 8 MiB of one repository.
    const pages = repo.startsWith('valid') ? 4 : 10;
    const tags = Array.from(
      { length: 10_000 },
      (_, i) => `v${String(page * 10_000 + i).padStart(width - 1, '0')}`,
    );
    const next = page + 1 < pages ? { link: `</v2/${repo}/tags/list?page=${page + 1}>; rel="next"` } : {};
    res.writeHead(200, { 'content-type': 'application/json', ...next });
    res.end(JSON.stringify({ tags }));
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { registries: { type: 'string', default: '4' }, concurrency: { type: 'string', default: '4' } },
  });
  const registries = Number(values.registries);
  const concurrency = Number(values.concurrency);
  const children = Array.from({ length: registries }, () =>
    fork(process.argv[1]!, ['--child'], { execArgv: ['--import', './bench/register.js'] }),
  );
  const ports = await Promise.all(
    children.map((c) => new Promise<number>((resolve) => c.once('message', (p) => resolve(p as number)))),
  );
  const client = new OciRegistryClient({ concurrency, maxAttempts: 1, ratePerSecond: 1000, burst: 1000 });
  let peakRss = 0;
  let peakHeap = 0;
  const sample = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 10);
  const base = process.memoryUsage();
  const outcomes = new Map<string, number>();
  let untyped = 0;
  // Per registry: `concurrency` lists of each attack at once, every registry at the same time.
  const lists = ports.flatMap((port) =>
    ['huge', 'long', 'valid'].flatMap((attack) =>
      Array.from({ length: concurrency * 2 }, (_, i) =>
        client.listTags(parseImageReference(`127.0.0.1:${port}/${attack}${i}:1`)).then(
          (tags) => `${attack}: ${tags.length} tags`,
          (e: unknown) => {
            if (!(e instanceof RegistryError)) untyped++;
            return `${attack}: ${e instanceof RegistryError ? e.code : String(e)}`;
          },
        ),
      ),
    ),
  );
  const started = performance.now();
  for (const o of await Promise.all(lists)) outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sample);
  for (const c of children) c.kill();
  console.log(
    `${registries} registries x ${concurrency * 2} lists of each attack (${lists.length} lists) in ${seconds.toFixed(1)} s`,
  );
  for (const [o, n] of [...outcomes].sort()) console.log(`  ${n} x ${o}`);
  console.log(
    `  RSS ${(base.rss / MiB).toFixed(0)} -> peak ${(peakRss / MiB).toFixed(0)} MiB; ` +
      `heap used ${(base.heapUsed / MiB).toFixed(0)} -> peak ${(peakHeap / MiB).toFixed(0)} MiB; ` +
      `cache ${(client.cachedTagBytes / MiB).toFixed(1)} MiB`,
  );
  process.exit(peakRss > 384 * MiB || untyped > 0 ? 1 : 0);
}

if (process.argv.includes('--child')) hostile();
else await main();
