// Attacks on the webhook's sockets, through the real HTTPS server: slow bodies, bodies that would
// not fit in memory together, deep nesting, weak TLS suites.
import { once } from 'node:events';
import { connect } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { connect as connectTcp } from 'node:net';
import type { Test } from 'tap';
import t from 'tap';
import { WEBHOOK_LIMITS, buildWebhookApp } from '../../webhook/app.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { cachedSettingsParser } from '../../webhook/admission/settings-cache.ts';
import { fixture, post, quietLogger, startTestWebhook, tokenSource } from './helpers.ts';
import type { TestWebhook } from './helpers.ts';

function tlsSocket(t: Test, hook: TestWebhook, extra: ConnectionOptions = {}): TLSSocket {
  const socket = connect({
    host: '127.0.0.1',
    port: hook.running.webhookPort,
    ca: hook.ca,
    servername: 'localhost',
    ...extra,
  });
  t.teardown(() => socket.destroy());
  return socket;
}

/** Everything the server writes until it closes the socket. */
function collect(socket: TLSSocket | ReturnType<typeof connectTcp>): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  // A reset after the answer is part of the attack: wait for 'close' without events.once, which
  // would reject on that 'error'.
  socket.on('error', () => undefined);
  return new Promise<void>((resolve) => socket.once('close', () => resolve())).then(() =>
    Buffer.concat(chunks).toString('latin1'),
  );
}

function head(length: number): string {
  return (
    'POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
    `Content-Length: ${length}\r\n\r\n`
  );
}

t.test('a body that never completes is answered 408 and its socket closed', async (t) => {
  const hook = await startTestWebhook(t, {
    limits: { webhook: { requestTimeoutMs: 300, headersTimeoutMs: 200, checkIntervalMs: 50 } },
  });
  const socket = tlsSocket(t, hook);
  await once(socket, 'secureConnect');
  const answer = collect(socket);
  // Trickle: bytes keep arriving, so only the whole-request timeout can end it.
  socket.write(head(100_000) + '{"apiVersion":');
  const trickle = setInterval(() => socket.write(' '), 20);
  t.teardown(() => clearInterval(trickle));
  const text = await answer;
  clearInterval(trickle);
  t.match(text, /^HTTP\/1\.1 408 /, 'Request Timeout, then closed');
});

t.test('headers that never complete: the socket is closed', async (t) => {
  const hook = await startTestWebhook(t, {
    limits: { webhook: { requestTimeoutMs: 300, headersTimeoutMs: 200, checkIntervalMs: 50 } },
  });
  const socket = tlsSocket(t, hook);
  await once(socket, 'secureConnect');
  const answer = collect(socket);
  socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\n');
  t.match(await answer, /^HTTP\/1\.1 408 /, 'Request Timeout, then closed');
});

t.test('an idle socket is closed after the connection timeout', async (t) => {
  const hook = await startTestWebhook(t, { limits: { webhook: { connectionTimeoutMs: 200 } } });
  const socket = tlsSocket(t, hook);
  await once(socket, 'secureConnect');
  const closed = collect(socket);
  t.equal(await closed, '', 'closed without an answer');
});

t.test(
  '30 connections holding a 6.9 MiB body: the shipped budget takes 6, the rest get 503 before any body byte',
  async (t) => {
    const hook = await startTestWebhook(t);
    const size = Math.floor(6.9 * 1024 * 1024);
    const fits = Math.floor(WEBHOOK_LIMITS.bodyBudget / size);
    t.equal(fits, 6, 'the 48 MiB budget holds six such bodies');
    const sockets: { socket: TLSSocket; answer: Promise<string> }[] = [];
    for (let i = 0; i < 30; i++) {
      const socket = tlsSocket(t, hook);
      await once(socket, 'secureConnect');
      const answer = collect(socket);
      // "100 Continue" comes once the server parsed the headers and took its decision, so
      // the connections are decided in this order: the first six fit, the others do not.
      const decided = new Promise<void>((resolve) => {
        let seen = '';
        const onData = (c: Buffer): void => {
          seen += c.toString('latin1');
          if (seen.includes('100 Continue')) {
            socket.off('data', onData);
            resolve();
          }
        };
        socket.on('data', onData);
      });
      socket.write(head(size).replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n'));
      await decided;
      sockets.push({ socket, answer });
    }
    for (const { answer } of sockets.slice(fits)) {
      const text = await answer;
      t.match(text, /HTTP\/1\.1 503 /, 'refused without reading a byte of its body');
      t.match(text, /retry-after: 1/i);
    }
    const body = JSON.stringify(fixture('deployment-create.json'));
    const padded = body + ' '.repeat(size - Buffer.byteLength(body));
    for (const { socket, answer } of sockets.slice(0, fits)) {
      socket.end(padded);
      t.match(await answer, /HTTP\/1\.1 200 /, 'a held body, once complete, is reviewed');
    }
    // Every reservation was given back: a review fits again (the release follows the response).
    let status = 503;
    for (let i = 0; i < 50 && status === 503; i++) {
      status = (await post(hook.url, hook.ca, fixture('deployment-create.json'))).status;
    }
    t.equal(status, 200, 'the budget is free again');
  },
);

t.test('a 10k-deep nested apiVersion is a 400, not a 500', async (t) => {
  const app = buildWebhookApp({
    logger: quietLogger(),
    metrics: new WebhookMetrics({ defaultMetrics: false }),
    review: { watcherUsernames: [], randomToken: tokenSource(), parseSettings: cachedSettingsParser() },
  });
  t.teardown(() => app.close());
  for (const nested of [
    '['.repeat(10_000) + ']'.repeat(10_000),
    '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000),
  ]) {
    const res = await app.inject({
      method: 'POST',
      url: '/mutate',
      headers: { 'content-type': 'application/json' },
      payload: `{"apiVersion":${nested},"kind":"AdmissionReview","request":{"uid":"u"}}`,
    });
    t.equal(res.statusCode, 400);
    t.match(res.json(), { error: 'Bad Request', message: /nested too deeply|apiVersion/ });
  }
});

t.test('TLS 1.2 offers only forward-secret AEAD suites', async (t) => {
  const hook = await startTestWebhook(t);
  const handshake = async (opts: ConnectionOptions): Promise<string> => {
    const socket = tlsSocket(t, hook, opts);
    const result = await new Promise<string>((resolve) => {
      socket.once('secureConnect', () =>
        resolve(`ok ${socket.getCipher().name} ${socket.getProtocol() ?? ''}`),
      );
      socket.once('error', (err) => resolve(`failed ${err.message}`));
    });
    socket.destroy();
    return result;
  };
  const tls12 = { maxVersion: 'TLSv1.2', minVersion: 'TLSv1.2' } as const;
  for (const cbc of [
    'ECDHE-RSA-AES128-SHA256',
    'ECDHE-RSA-AES256-SHA',
    'AES128-SHA256',
    'AES128-GCM-SHA256',
  ]) {
    t.match(await handshake({ ...tls12, ciphers: cbc }), /^failed /, `${cbc} is refused`);
  }
  for (const aead of [
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ]) {
    t.equal(await handshake({ ...tls12, ciphers: aead }), `ok ${aead} TLSv1.2`, `${aead} works`);
  }
  t.match(await handshake({}), /^ok TLS_\S+ TLSv1\.3$/, 'TLS 1.3 as is');
});

t.test('the probe port has the same guards', async (t) => {
  const hook = await startTestWebhook(t, {
    limits: { http: { requestTimeoutMs: 300, headersTimeoutMs: 200, checkIntervalMs: 50 } },
  });
  const socket = connectTcp({ host: '127.0.0.1', port: hook.running.httpPort });
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  const answer = collect(socket);
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  t.match(await answer, /^HTTP\/1\.1 408 /, 'slow headers are refused and the socket closed');
});
