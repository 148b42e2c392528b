import t from 'tap';
import { ConfigError } from '../../shared/env.ts';
import { ListenError, listenError, parseListenAddress } from '../../shared/listen.ts';

t.test('parseListenAddress takes IPv4 and IPv6 addresses only', (t) => {
  for (const ok of ['0.0.0.0', '127.0.0.1', '::', '::1', ' 10.0.0.5 '])
    t.equal(parseListenAddress(ok), ok.trim());
  for (const bad of ['localhost', '', '127.0.0.1:8080', 'http://0.0.0.0']) {
    t.throws(() => parseListenAddress(bad), ConfigError, JSON.stringify(bad));
  }
  t.end();
});

function errno(code: string, address: string, port: number): Error {
  return Object.assign(new Error(`listen ${code}: ${address}:${port}`), { code, address, port });
}

t.test('listen errors become one line naming the variable to change', (t) => {
  const ports = { WEBHOOK_PORT: 8443, HTTP_PORT: 8080 };
  const cases = [
    {
      name: 'a busy HTTP port',
      input: errno('EADDRINUSE', '127.0.0.1', 8080),
      want: 'port 8080 on 127.0.0.1 is already in use; set HTTP_PORT',
    },
    {
      name: 'a busy webhook port',
      input: errno('EADDRINUSE', '0.0.0.0', 8443),
      want: 'port 8443 on 0.0.0.0 is already in use; set WEBHOOK_PORT',
    },
    {
      name: 'a privileged port',
      input: errno('EACCES', '0.0.0.0', 8080),
      want: 'port 8080 on 0.0.0.0 needs privileges this process lacks; set HTTP_PORT above 1023',
    },
    {
      name: 'an address of another machine',
      input: errno('EADDRNOTAVAIL', '10.9.9.9', 8080),
      want: '10.9.9.9 is not an address of this machine; set LISTEN_ADDRESS',
    },
  ];
  for (const c of cases) {
    const got = listenError(c.input, ports);
    t.ok(got instanceof ListenError, `${c.name}: a ListenError`);
    t.equal((got as ListenError).message, c.want, c.name);
    t.equal((got as ListenError).code, 'E_LISTEN');
    t.equal((got as ListenError).cause, c.input, `${c.name}: keeps the cause`);
  }
  const other = new Error('boom');
  t.equal(listenError(other, ports), other, 'other errors pass unchanged');
  t.equal(listenError('text', ports), 'text');
  t.end();
});
