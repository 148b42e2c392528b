// Attacks on the watcher's HTTP port through real sockets: slow requests, bodies over the limit,
// many bodies held at once.
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import type { ServerLimits } from '../../../shared/inbound.ts';
import type { WorkloadView } from '../../../watcher/controller/index.ts';
import { build } from '../../../watcher/http/app.ts';
import type { WatcherApi } from '../../../watcher/http/app.ts';
import { WATCHER_LIMITS } from '../../../watcher/http/limits.ts';
import { WatcherMetrics } from '../../../watcher/metrics.ts';

const api: WatcherApi = {
  workloads: (): WorkloadView[] => [],
  snapshot: () => undefined,
  manualUpdate: () => Promise.reject(new Error('not used')),
};

async function listen(t: Test, limits: Partial<ServerLimits> = {}): Promise<number> {
  const app = await build({
    api,
    registry: { listTags: () => Promise.resolve([]) },
    metrics: new WatcherMetrics({ defaultMetrics: false }),
    ready: () => true,
    limits,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  return (app.server.address() as AddressInfo).port;
}

async function socket(t: Test, port: number): Promise<{ s: Socket; answer: Promise<string> }> {
  const s = connect({ host: '127.0.0.1', port });
  t.teardown(() => s.destroy());
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  // A reset after the answer (the client was still writing) is part of the attack, not a failure:
  // wait for 'close' without events.once, which would reject on that 'error'.
  s.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  return { s, answer: closed.then(() => Buffer.concat(chunks).toString('latin1')) };
}

const post = (length: number, extra = '') =>
  'POST /api/v1/workloads/shop/deployment/web/update HTTP/1.1\r\nHost: x\r\n' +
  `Content-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;

t.test('a slow body is answered 408 and closed', async (t) => {
  const port = await listen(t, { requestTimeoutMs: 300, headersTimeoutMs: 200, checkIntervalMs: 50 });
  const { s, answer } = await socket(t, port);
  s.write(post(10_000) + '{');
  const trickle = setInterval(() => s.write(' '), 20);
  t.teardown(() => clearInterval(trickle));
  s.once('data', () => clearInterval(trickle));
  t.match(await answer, /^HTTP\/1\.1 408 /);
  clearInterval(trickle);
});

t.test('slow headers and idle sockets are closed', async (t) => {
  const port = await listen(t, {
    requestTimeoutMs: 300,
    headersTimeoutMs: 200,
    checkIntervalMs: 50,
    connectionTimeoutMs: 400,
    keepAliveTimeoutMs: 300,
  });
  const slow = await socket(t, port);
  slow.s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  t.match(await slow.answer, /^HTTP\/1\.1 408 /);
  const idle = await socket(t, port);
  idle.s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  t.match(await idle.answer, /^HTTP\/1\.1 200 /, 'answered, then the idle keep-alive socket is closed');
});

t.test('300 connections with 1 MiB bodies: each refused with 413 before it is read', async (t) => {
  const port = await listen(t);
  const answers: Promise<string>[] = [];
  for (let i = 0; i < 300; i++) {
    const { s, answer } = await socket(t, port);
    s.write(post(1024 * 1024));
    answers.push(answer);
  }
  for (const a of answers) t.match(await a, /^HTTP\/1\.1 413 /);
});

t.test('bodies held open: the 1 MiB budget takes what fits, the rest get 503 at once', async (t) => {
  const port = await listen(t);
  const size = 10 * 1024;
  const fits = Math.floor(WATCHER_LIMITS.bodyBudget / size);
  const held: { s: Socket; answer: Promise<string> }[] = [];
  for (let i = 0; i < 300; i++) {
    const c = await socket(t, port);
    // "100 Continue" means the headers were parsed and the decision taken: in this order.
    const decided = new Promise<void>((resolve) => {
      let seen = '';
      const onData = (chunk: Buffer): void => {
        seen += chunk.toString('latin1');
        if (seen.includes('100 Continue')) {
          c.s.off('data', onData);
          resolve();
        }
      };
      c.s.on('data', onData);
    });
    c.s.write(post(size, 'Expect: 100-continue\r\n'));
    await decided;
    held.push(c);
  }
  for (const { answer } of held.slice(fits)) {
    const text = await answer;
    t.match(text, /HTTP\/1\.1 503 /);
    t.match(text, /retry-after: 1/i);
  }
  t.pass(`${fits} held, ${300 - fits} refused`);
  // The held ones, once complete, reach the route (403: no token) and free their bytes.
  for (const { s, answer } of held.slice(0, fits)) {
    s.end('{}' + ' '.repeat(size - 2));
    t.match(await answer, /HTTP\/1\.1 403 /);
  }
});
