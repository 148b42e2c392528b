// The webhook's start as a new user meets it: a busy port is one line, LISTEN_ADDRESS binds
// loopback only for a local try.
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { dirname } from 'node:path';
import t from 'tap';
import { startEntryPoint } from '../support/process.ts';

t.test('a busy port: one line naming port, address and the variable, exit 1', async (t) => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const port = (busy.address() as AddressInfo).port;
  const webhook = startEntryPoint('webhook/main.ts', {
    WEBHOOK_PORT: String(port),
    HTTP_PORT: '0',
    LISTEN_ADDRESS: '127.0.0.1',
  });
  const http = startEntryPoint('webhook/main.ts', {
    WEBHOOK_PORT: '0',
    HTTP_PORT: String(port),
    LISTEN_ADDRESS: '127.0.0.1',
  });
  for (const [p, variable] of [
    [webhook, 'WEBHOOK_PORT'],
    [http, 'HTTP_PORT'],
  ] as const) {
    t.equal(await p.exited, 1, variable);
    t.equal(
      p.stderr(),
      `image-watcher webhook: port ${port} on 127.0.0.1 is already in use; set ${variable}\n`,
      variable,
    );
    const ca = p.lines.find((l) => typeof l.caFile === 'string');
    if (ca) await rm(dirname(ca.caFile as string), { recursive: true, force: true });
  }
});

t.test('LISTEN_ADDRESS=127.0.0.1 listens on loopback only', async (t) => {
  const p = startEntryPoint('webhook/main.ts', {
    WEBHOOK_PORT: '0',
    HTTP_PORT: '0',
    LISTEN_ADDRESS: '127.0.0.1',
  });
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  const listening = await p.waitForLine((l) => l.webhookPort !== undefined);
  const ca = p.lines.find((l) => typeof l.caFile === 'string');
  t.teardown(() => rm(dirname(ca!.caFile as string), { recursive: true, force: true }));
  const res = await fetch(`http://127.0.0.1:${listening.httpPort as number}/healthz`);
  t.equal(res.status, 200, 'answers on 127.0.0.1');
  const other = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
  if (other) {
    const refused = await fetch(`http://${other.address}:${listening.httpPort as number}/healthz`).then(
      () => 'answered',
      (err: Error & { cause?: { code?: string } }) => err.cause?.code ?? err.message,
    );
    t.equal(refused, 'ECONNREFUSED', `not on ${other.address}`);
  } else {
    t.comment('no non-loopback IPv4 interface on this machine: only the loopback half is checked');
  }
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0);
});
