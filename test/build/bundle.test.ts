// The production bundles (scripts/bundle.ts, what the images and `npm run start:*` run) start and
// answer as the sources do: no module left out, no require() esbuild could not follow.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Inside the tree and as deep as dist/watcher/cli: the CLI finds the package.json (its version,
// "type": "module") by walking up a few directories.
const out = mkdtempSync(join(ROOT, 'node_modules', '.iw-bundle-test-'));
t.teardown(() => rmSync(out, { recursive: true, force: true }));
const built = spawnSync(process.execPath, ['scripts/bundle.ts', '--outdir', out, '--sizes'], {
  cwd: ROOT,
  encoding: 'utf8',
});
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

function start(main: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [join(out, main)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let buffer = '';
  let onLine: (() => void) | undefined;
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => {
    buffer += c.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      try {
        lines.push(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
      } catch {
        // not a log line
      }
      buffer = buffer.slice(nl + 1);
      onLine?.();
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const waitFor = (match: (l: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find(match);
        if (hit) resolve(hit);
      };
      onLine = check;
      check();
      void exited.then((code) => reject(new Error(`${main} exited with ${code}: ${stderr}`)));
    });
  return { child, lines, exited, waitFor, stderr: () => stderr };
}

function post(port: number, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/mutate', method: 'POST', rejectUnauthorized: false },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.setHeader('content-type', 'application/json');
    req.end(body);
  });
}

t.test('scripts/bundle.ts builds the three entry points', (t) => {
  t.equal(built.status, 0, built.stderr);
  for (const main of ['webhook/main.js', 'watcher/main.js', 'watcher/cli/main.js'])
    t.match(built.stdout, main, `${main} written`);
  t.end();
});

t.test('error classes keep their names in the bundles (err.name is new.target.name)', (t) => {
  const sources = ['shared', 'webhook', 'watcher'].flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(ROOT, dir, f), 'utf8')),
  );
  const names = sources.flatMap((src) => [...src.matchAll(/class (\w+Error) extends/g)].map((m) => m[1]!));
  t.ok(names.length > 5, `${names.length} error classes found`);
  const bundles = ['webhook/main.js', 'watcher/main.js']
    .map((f) => readFileSync(join(out, f), 'utf8'))
    .join('\n');
  for (const name of names)
    t.ok(
      new RegExp(`class ${name} extends`).test(bundles) || !bundles.includes(`class ${name}`),
      `${name} is not renamed`,
    );
  t.end();
});

t.test('the webhook bundle serves /readyz and /mutate over TLS and stops on SIGTERM', async (t) => {
  const p = start('webhook/main.js', { WEBHOOK_PORT: '0', HTTP_PORT: '0', LISTEN_ADDRESS: '127.0.0.1' });
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  const listening = await p.waitFor((l) => l.webhookPort !== undefined);
  const ca = p.lines.find((l) => typeof l.caFile === 'string');
  if (ca) t.teardown(() => rmSync(dirname(ca.caFile as string), { recursive: true, force: true }));
  const ready = await fetch(`http://127.0.0.1:${listening.httpPort as number}/readyz`);
  t.equal(ready.status, 200, '/readyz');
  const review = readFileSync(join(ROOT, 'test/fixtures/admission/deployment-create.json'), 'utf8');
  const res = await post(listening.webhookPort as number, review);
  t.equal(res.status, 200);
  const answer = JSON.parse(res.body) as { response: { allowed: boolean; patchType?: string } };
  t.equal(answer.response.allowed, true, 'allowed');
  t.equal(answer.response.patchType, 'JSONPatch', 'stamped (current-version, token-update)');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'exit 0 on SIGTERM');
});

t.test('the watcher bundle names a missing kubeconfig in one line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const p = start('watcher/main.js', { HOME: dir, KUBECONFIG: join(dir, 'missing'), HTTP_PORT: '0' });
  t.equal(await p.exited, 1);
  t.match(p.stderr(), /^image-watcher watcher: E_KUBE_CONFIG: /, p.stderr());
});

t.test('the CLI bundle runs', (t) => {
  const res = spawnSync(process.execPath, [join(out, 'watcher/cli/main.js'), '--version'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  t.equal(res.status, 0, res.stderr);
  t.match(res.stdout, pkg.version);
  t.end();
});
