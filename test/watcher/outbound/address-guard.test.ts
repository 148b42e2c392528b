import t from 'tap';
import { blockedReason, checkHost, parseIpAddress } from '../../../watcher/outbound/address-guard.ts';

// Every form the SSRF attack used, and the public neighbours that must stay reachable.
const cases: { name: string; input: string; want: RegExp | undefined }[] = [
  { name: 'a public IPv4 address is allowed', input: '140.82.112.5', want: undefined },
  { name: 'a public IPv6 address is allowed', input: '2606:4700::6810:84e5', want: undefined },
  { name: 'loopback is blocked', input: '127.0.0.1', want: /loopback/ },
  { name: 'loopback written as one hex number is blocked', input: '0x7f000001', want: /loopback/ },
  { name: 'loopback written short (127.1) is blocked', input: '127.1', want: /loopback/ },
  { name: 'loopback written as one decimal number is blocked', input: '2130706433', want: /loopback/ },
  { name: 'loopback written in octal is blocked', input: '0177.0.0.1', want: /loopback/ },
  { name: 'a private address in hex octets is blocked', input: '0xa.0.0.1', want: /private/ },
  { name: '10/8 is blocked', input: '10.0.0.5', want: /private/ },
  { name: '172.16/12 is blocked', input: '172.31.255.1', want: /private/ },
  { name: 'just outside 172.16/12 is allowed', input: '172.32.0.1', want: undefined },
  { name: '192.168/16 is blocked', input: '192.168.1.1', want: /private/ },
  { name: 'carrier-grade NAT is blocked', input: '100.64.0.1', want: /carrier-grade/ },
  { name: 'the cloud metadata address is blocked', input: '169.254.169.254', want: /link-local.*metadata/ },
  { name: 'the unspecified address is blocked', input: '0.0.0.0', want: /unspecified/ },
  { name: 'IPv4 multicast is blocked', input: '239.1.1.1', want: /multicast/ },
  { name: 'the broadcast address is blocked', input: '255.255.255.255', want: /broadcast/ },
  { name: 'documentation addresses are blocked', input: '192.0.2.1', want: /reserved/ },
  { name: 'IPv6 loopback is blocked', input: '::1', want: /loopback/ },
  { name: 'IPv6 loopback in brackets is blocked', input: '[::1]', want: /loopback/ },
  { name: 'the IPv6 unspecified address is blocked', input: '::', want: /unspecified/ },
  {
    name: 'IPv4-compatible loopback (::7f00:1) is blocked',
    input: '::7f00:1',
    want: /IPv4-compatible.*loopback/,
  },
  { name: 'IPv4-compatible with a public address is still reserved', input: '::808:808', want: /reserved/ },
  { name: 'IPv6 unique local addresses are blocked', input: 'fd12:3456::1', want: /unique local/ },
  { name: 'the IPv6 cloud metadata address is blocked', input: 'fd00:ec2::254', want: /unique local/ },
  { name: 'IPv6 link-local addresses are blocked', input: 'fe80::1', want: /link-local/ },
  { name: 'IPv6 link-local with a zone is blocked', input: 'fe80::1%eth0', want: /link-local/ },
  { name: 'IPv6 multicast is blocked', input: 'ff02::1', want: /multicast/ },
  { name: 'IPv4-mapped loopback is blocked', input: '::ffff:127.0.0.1', want: /IPv4-mapped.*loopback/ },
  { name: 'IPv4-mapped metadata in hex is blocked', input: '::ffff:a9fe:a9fe', want: /link-local/ },
  { name: 'IPv4-mapped public addresses are allowed', input: '::ffff:8.8.8.8', want: undefined },
  {
    name: 'IPv4-translated (::ffff:0:a.b.c.d) private is blocked',
    input: '::ffff:0:10.0.0.1',
    want: /translated.*private/,
  },
  { name: 'IPv4-translated loopback in hex is blocked', input: '::ffff:0:7f00:1', want: /loopback/ },
  {
    name: 'NAT64 (64:ff9b::/96) of a private address is blocked',
    input: '64:ff9b::10.0.0.1',
    want: /NAT64.*private/,
  },
  {
    name: 'NAT64 of the metadata address in hex is blocked',
    input: '64:ff9b::a9fe:a9fe',
    want: /link-local/,
  },
  { name: 'NAT64 of a public address is allowed', input: '64:ff9b::8.8.8.8', want: undefined },
  { name: 'local-use NAT64 (64:ff9b:1::/48) is blocked', input: '64:ff9b:1::a00:1', want: /local-use NAT64/ },
  { name: '6to4 embedding loopback is blocked', input: '2002:7f00:1::1', want: /6to4.*loopback/ },
  { name: '6to4 embedding a private address is blocked', input: '2002:c0a8:101::', want: /6to4.*private/ },
  { name: '6to4 embedding a public address is allowed', input: '2002:808:808::1', want: undefined },
  { name: 'Teredo addresses are blocked', input: '2001:0:4136:e378:8000:63bf:3fff:fdd2', want: /Teredo/ },
  { name: 'IPv6 documentation addresses are blocked', input: '2001:db8::1', want: /reserved/ },
  { name: 'a name is not an address', input: 'localhost', want: /not an IP address/ },
];

t.test('every address form is classified', (t) => {
  for (const c of cases) {
    const got = blockedReason(c.input);
    if (c.want === undefined) t.equal(got, undefined, c.name);
    else t.match(got, c.want, c.name);
  }
  t.end();
});

t.test('the URL parser and the guard agree on odd IPv4 spellings', (t) => {
  for (const host of ['0x7f000001', '127.1', '2130706433', '0177.0.0.1']) {
    const url = new URL(`http://${host}:8080/`);
    t.equal(url.hostname, '127.0.0.1', `${host} is loopback for fetch`);
    t.equal(parseIpAddress(host)?.toString(), '127.0.0.1', `${host} is loopback for the guard`);
  }
  t.end();
});

t.test('checkHost checks every resolved address, literals without DNS', async (t) => {
  const calls: string[] = [];
  const resolve = (h: string) => {
    calls.push(h);
    return Promise.resolve([
      { address: '140.82.112.5', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ]);
  };
  const mixed = await checkHost('mixed.example', { resolve });
  t.same(mixed.blocked, { address: '10.0.0.7', why: 'a private address' }, 'one private answer is enough');
  const trusted = await checkHost('mixed.example', { resolve, trusted: true });
  t.equal(trusted.blocked, undefined, 'a trusted host is resolved but not judged');
  t.equal(trusted.addresses.length, 2);
  const literal = await checkHost('[::ffff:127.0.0.1]', { resolve });
  t.match(literal.blocked?.why, /loopback/);
  t.same(calls, ['mixed.example', 'mixed.example'], 'an IP literal is not looked up');
});
