// bench/inbound-attack.ts starts its server on ports the kernel picks and attacks the one the server
// reports: before, it chose a port at random (20,000 to 40,000) and the server failed with E_LISTEN
// whenever anything else held it, the kernel's own port-0 picks included.
import { get as httpsGet } from 'node:https';
import t from 'tap';
import { startTarget } from '../../bench/inbound-attack.ts';

t.setTimeout(120_000);

t.test('the watcher target listens on a port the kernel picked and answers there', async (t) => {
  const { child, port } = await startTarget('watcher');
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  t.ok(port > 0, `port ${port}`);
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(res.status, 200, '/healthz on the reported port');
});

t.test('the webhook target reports its TLS port (not HTTP_PORT) and serves TLS there', async (t) => {
  const { child, port } = await startTarget('webhook');
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const status = await new Promise<number>((resolve, reject) => {
    httpsGet({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
  // /healthz is on HTTP_PORT: the TLS port answers it with 404, which proves TLS on the reported port.
  t.ok(status > 0, `a TLS answer (${status}) on the reported port`);
});
