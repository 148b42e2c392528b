// Port hand-over in the test set-ups: programs bind port 0 and the bound port is read back from
// /proc; a program told its port in advance starts again on another one when that port was taken.
import { connect, createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { ListenError } from '../../shared/listen.ts';
import { freePort, isAddressInUse, listeningPorts, startOnFreePort } from '../support/daemon.ts';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { startSshd } from '../support/sshd.ts';

async function occupy(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

t.test('isAddressInUse: the errors of a taken port, and nothing else', (t) => {
  const errno = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:5000'), {
    code: 'EADDRINUSE',
  });
  const yes: [string, unknown][] = [
    ['node errno error', errno],
    ['code only', { code: 'EADDRINUSE' }],
    [
      'docker-registry',
      new Error(
        'docker-registry exited before it listened:\nlisten tcp 127.0.0.1:5000: bind: address already in use',
      ),
    ],
    [
      'sshd',
      new Error('sshd exited with 255: Bind to port 5000 on 127.0.0.1 failed: Address already in use.'),
    ],
    [
      'the entry points (ListenError)',
      new ListenError('port 5000 on 127.0.0.1 is already in use; set HTTP_PORT', errno),
    ],
    ['as a cause', new Error('start failed', { cause: errno })],
  ];
  for (const [what, err] of yes) t.ok(isAddressInUse(err), what);
  const no: [string, unknown][] = [
    ['refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5000'), { code: 'ECONNREFUSED' })],
    ['privileged port', new ListenError('port 80 on 127.0.0.1 needs privileges this process lacks', {})],
    ['bad port', new Error('sshd exited with 255: line 1: bad port number')],
    ['a name in use', new Error('container name already in use')],
    ['undefined', undefined],
    ['a number', 98],
  ];
  for (const [what, err] of no) t.notOk(isAddressInUse(err), what);
  t.end();
});

t.test('startOnFreePort: docker-registry handed a taken port starts on the next one', async (t) => {
  const busy = await occupy();
  t.teardown(() => new Promise<void>((resolve) => busy.server.close(() => resolve())));
  const handed: number[] = [];
  const failures: unknown[] = [];
  const registry = await startOnFreePort(
    async (port) => {
      handed.push(port);
      try {
        return await startRegistry({ kind: 'none' }, { port });
      } catch (err) {
        failures.push(err);
        throw err;
      }
    },
    { nextPort: async () => (handed.length === 0 ? busy.port : freePort()) },
  );
  t.teardown(() => registry.stop());
  t.equal(handed.length, 2, 'a second start');
  t.equal(handed[0], busy.port, 'the taken port first');
  t.equal(failures.length, 1);
  t.match(String(failures[0]), /address already in use/, 'the registry said why');
  t.equal(registry.host, `127.0.0.1:${handed[1]}`, 'it runs on the second port');
  const res = await fetch(`${registry.url}/v2/`);
  await res.arrayBuffer();
  t.equal(res.status, 200, 'and answers');
});

t.test('sshd (no port 0) handed a taken port starts on the next one', async (t) => {
  const busy = await occupy();
  t.teardown(() => new Promise<void>((resolve) => busy.server.close(() => resolve())));
  const handed: number[] = [];
  const sshd = await startSshd({
    ports: {
      nextPort: async () => {
        handed.push(handed.length === 0 ? busy.port : await freePort());
        return handed.at(-1)!;
      },
    },
  });
  t.teardown(() => sshd.stop());
  t.equal(handed.length, 2, 'a second start');
  t.equal(handed[0], busy.port, 'the taken port first');
  t.equal(sshd.port, handed[1], 'it runs on the second port');
  const banner = await new Promise<string>((resolve, reject) => {
    const socket = connect(sshd.port, '127.0.0.1');
    socket.once('data', (b: Buffer) => {
      socket.destroy();
      resolve(b.toString());
    });
    socket.once('error', reject);
  });
  t.match(banner, /^SSH-2\.0-OpenSSH/, 'and sshd answers there');
  t.ok((await listeningPorts(process.pid)).includes(busy.port), 'the taken port is still ours');
});

t.test('startOnFreePort: the last address-in-use error after all attempts', async (t) => {
  const busy = await occupy();
  t.teardown(() => new Promise<void>((resolve) => busy.server.close(() => resolve())));
  let starts = 0;
  await t.rejects(
    startOnFreePort(
      (port) => {
        starts++;
        return startRegistry({ kind: 'none' }, { port });
      },
      { attempts: 2, nextPort: () => Promise.resolve(busy.port) },
    ),
    /address already in use/,
  );
  t.equal(starts, 2, 'exactly the attempts asked for');
});

t.test('startOnFreePort: any other failure is not retried', async (t) => {
  let starts = 0;
  await t.rejects(
    startOnFreePort(
      (port) => {
        starts++;
        // Port 65536 does not exist: the registry fails, but not because the port is taken.
        return startRegistry({ kind: 'none' }, { port: port + 65536 });
      },
      { attempts: 5 },
    ),
    { message: /docker-registry exited/ },
  );
  t.equal(starts, 1, 'one start');
});

t.test('startRegistry binds port 0: the port read back is the one it serves', async (t) => {
  const registry: RunningRegistry = await startRegistry();
  t.teardown(() => registry.stop());
  const port = Number(registry.host.split(':')[1]);
  t.ok(port > 0);
  const res = await fetch(`${registry.url}/v2/`);
  await res.arrayBuffer();
  t.equal(res.status, 200);
  t.notOk((await listeningPorts(process.pid)).includes(port), "the port is the registry process's, not ours");
});

t.test('listeningPorts: /proc and lsof agree', async (t) => {
  const busy = await occupy();
  t.teardown(() => new Promise<void>((resolve) => busy.server.close(() => resolve())));
  const proc = await listeningPorts(process.pid, { via: 'proc' });
  t.ok(proc.includes(busy.port), 'a socket this process listens on');
  t.strictSame(await listeningPorts(process.pid, { via: 'lsof' }), proc, 'lsof says the same');
});
