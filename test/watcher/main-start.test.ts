// The watcher's start as a new user meets it: a missing kubeconfig, a busy port and an API server
// that does not answer each say so, instead of failing silently or answering "no workloads".
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort, startOnFreePort } from '../support/daemon.ts';
import { startEntryPoint } from '../support/process.ts';

async function scratch(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'iw-start-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A kubeconfig whose API server is a loopback port nobody listens on. */
async function unreachableKubeconfig(dir: string): Promise<string> {
  const port = await freePort();
  const file = join(dir, 'kubeconfig');
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${port}" } }]`,
      'users: [{ name: u, user: { token: t } }]',
      'contexts: [{ name: x, context: { cluster: c, user: u } }]',
      'current-context: x',
      '',
    ].join('\n'),
  );
  return file;
}

t.test('a missing kubeconfig: one clear line on stderr and exit 1', async (t) => {
  const dir = await scratch(t);
  const missing = join(dir, 'nope', 'config');
  const p = startEntryPoint('watcher/main.ts', { HOME: dir, KUBECONFIG: missing, HTTP_PORT: '0' });
  t.equal(await p.exited, 1);
  t.match(
    p.stderr(),
    new RegExp(
      `^image-watcher watcher: E_KUBE_CONFIG: cannot load the kubeconfig from KUBECONFIG=${missing}: ENOENT[^\\n]*\\n$`,
    ),
  );
});

t.test('a busy port: one line naming port, address and HTTP_PORT, exit 1', async (t) => {
  const dir = await scratch(t);
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const port = (busy.address() as AddressInfo).port;
  const p = startEntryPoint('watcher/main.ts', {
    HOME: dir,
    KUBECONFIG: await unreachableKubeconfig(dir),
    LEADER_ELECTION: 'false',
    HTTP_PORT: String(port),
    LISTEN_ADDRESS: '127.0.0.1',
  });
  t.equal(await p.exited, 1);
  t.equal(
    p.stderr(),
    `image-watcher watcher: E_LISTEN: port ${port} on 127.0.0.1 is already in use; set HTTP_PORT\n`,
  );
});

t.test('an unreachable API server: 503 "not synced", and "watcher started" before "stopping"', async (t) => {
  const dir = await scratch(t);
  const kubeconfig = await unreachableKubeconfig(dir);
  // Told its port (the log line must name it): a port taken meanwhile means a start on another.
  const { p, httpPort, started } = await startOnFreePort(async (httpPort) => {
    const p = startEntryPoint('watcher/main.ts', {
      HOME: dir,
      KUBECONFIG: kubeconfig,
      LEADER_ELECTION: 'false',
      HTTP_PORT: String(httpPort),
      LISTEN_ADDRESS: '127.0.0.1',
      API_TOKEN: 'api-token-0123456789abcdef',
    });
    t.teardown(() => {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    });
    const started = await p.waitForLine((l) => l.msg === 'watcher started');
    return { p, httpPort, started };
  });
  t.match(started, { port: httpPort, host: '127.0.0.1' });
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/workloads`, {
    headers: { authorization: 'Bearer api-token-0123456789abcdef' },
  });
  t.equal(res.status, 503, 'not 200 with an empty list');
  t.same(await res.json(), {
    error: 'not synced yet: the watcher has not listed the workloads from the Kubernetes API',
    code: 'E_NOT_SYNCED',
  });
  t.equal((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status, 503);
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'SIGTERM stops it cleanly');
  const messages = p.lines.map((l) => l.msg);
  t.ok(
    messages.indexOf('watcher started') < messages.indexOf('stopping'),
    `started is logged before stopping: ${JSON.stringify(messages)}`,
  );
  t.notOk(messages.includes('watcher synced with the Kubernetes API'), 'never synced');
  t.equal(messages.at(-1), 'stopped');
});
