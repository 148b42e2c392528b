// The real watcher entry point as a process against the fake API server and the real registry:
// the notification settings of the environment reach the dispatcher and the approval links, and
// the approval page shows the release notes the notice carried.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { buildImage } from '../support/images.ts';
import { startOnFreePort } from '../support/daemon.ts';
import { pushImage, startRegistry } from '../support/registry.ts';
import { deployment, fakeKube, until } from './e2e/support.ts';
import { startServer } from './release-notes/helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Payload {
  event: string;
  notices: { workload: { name: string }; newVersion: string; approvalUrl?: string }[];
}

t.test(
  'main wires NOTIFY_* settings, APPROVAL_LINK_TTL and release notes on the approval page',
  async (t) => {
    const registry = await startRegistry();
    t.teardown(() => registry.stop());
    await pushImage(registry.url, 'shop/web', ['1.0.0', '1.1.0'], buildImage());
    await pushImage(registry.url, 'shop/api', ['2.0.0', '2.1.0'], buildImage());

    const notes = await startServer((req, res) => {
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(`Release ${req.url.split('/').pop() ?? ''}\n\nFixes the frobnicator.`);
    });
    t.teardown(() => notes.close());
    const hook = await startServer((_req, res) => res.writeHead(204).end());
    t.teardown(() => hook.close());

    const kube = await fakeKube(t.teardown.bind(t));
    kube.seed(
      deployment('web', `${registry.host}/shop/web:1.0.0`, {
        'image-watcher/release-url': `${notes.origin}/notes/\${tag}`,
      }),
    );
    kube.seed(deployment('api', `${registry.host}/shop/api:2.0.0`));

    const dir = await mkdtemp(join(tmpdir(), 'iw-main-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, kube.kubeConfig().exportConfig());
    const started = Date.now();
    // PUBLIC_URL names the port before the watcher listens: a port taken meanwhile means a start
    // on another one.
    const { child, log, exited } = await startOnFreePort(async (httpPort) => {
      const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', 'watcher/main.ts'], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          TS_NODE_TRANSPILE_ONLY: '1',
          KUBECONFIG: kubeconfig,
          DOCKER_CONFIG: dir,
          HTTP_PORT: String(httpPort),
          RUN_ON_BOOT: 'true',
          LEADER_ELECTION: 'false',
          LOG_LEVEL: 'INFO',
          RELEASE_NOTES_ALLOW_PRIVATE: 'true',
          NOTIFY_WEBHOOK_URL: `${hook.origin}/hook`,
          NOTIFY_WEBHOOK_SECRET: 'webhook-secret-0123456789',
          NOTIFY_DIGEST_THRESHOLD: '1',
          NOTIFY_RETRIES: '0',
          PUBLIC_URL: `http://127.0.0.1:${httpPort}`,
          APPROVAL_SECRET: 'approval-secret-0123456789',
          APPROVAL_LINK_TTL: '1h',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const log = { text: '' };
      child.stdout.on('data', (c: Buffer) => (log.text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (log.text += c.toString()));
      // 'close': the output is read to the end by then (a busy port's message included).
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      t.teardown(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      const listening = (): boolean => log.text.includes('"msg":"watcher started"');
      await until('the watcher to listen', () => listening() || child.exitCode !== null, 90_000);
      if (!listening()) {
        await exited;
        throw new Error(`the watcher exited before it listened:\n${log.text}`);
      }
      return { child, log, exited };
    });

    await until('the notification', () => hook.requests.length > 0 || child.exitCode !== null, 90_000).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}\n${log.text}`);
      },
    );
    t.equal(child.exitCode, null, `the watcher runs\n${log.text}`);
    // The pass ends once every workload's notice was sent: then a second message would be in.
    await until('the end of the pass', () => log.text.includes('"msg":"check cycle done"'), 30_000);
    t.equal(hook.requests.length, 1, 'NOTIFY_DIGEST_THRESHOLD=1: two notices become one digest message');
    const payload = JSON.parse(hook.requests[0]!.body) as Payload;
    t.equal(payload.event, 'digest');
    t.same(payload.notices.map((n) => `${n.workload.name}:${n.newVersion}`).sort(), [
      'api:2.1.0',
      'web:1.1.0',
    ]);

    const link = payload.notices.find((n) => n.workload.name === 'web')?.approvalUrl;
    t.ok(link, 'an approval link');
    const exp = Number(new URL(link!).searchParams.get('exp'));
    const ttl = exp - Math.floor(started / 1000);
    t.ok(ttl > 3000 && ttl <= 3700, `APPROVAL_LINK_TTL=1h sets the expiry (got ${ttl} s)`);

    const page = await fetch(link!);
    const html = await page.text();
    t.equal(page.status, 200);
    t.match(html, /Fixes the frobnicator/, 'the approval page shows the release notes of the notice');
    t.equal(
      notes.requests.filter((r) => r.url === '/notes/1.1.0').length,
      1,
      'release notes were fetched once, for the notice only',
    );

    child.kill('SIGTERM');
    t.equal(await exited, 0, 'stops cleanly on SIGTERM');
  },
);
