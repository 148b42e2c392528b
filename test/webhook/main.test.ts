// The real entry point as a process: self-signed start, a review, SIGTERM with a request in flight.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { request } from 'node:https';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { fixture, get, patchOf, post } from './helpers.ts';
import type { Loose } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

t.test('main: generates and logs a CA, serves reviews, shuts down gracefully on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', 'webhook/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      TS_NODE_TRANSPILE_ONLY: '1',
      WEBHOOK_PORT: '0',
      HTTP_PORT: '0',
      LOG_LEVEL: 'INFO',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const lines: Loose[] = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = new Promise<Loose>((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (line.webhookPort !== undefined) resolve(line);
      }
    });
    child.on('exit', () => reject(new Error(`webhook exited early: ${stderr}`)));
  });
  const started = await listening;
  const logged = lines.find((l) => l.caBundle !== undefined);
  t.ok(logged, 'the CA is logged once, as caBundle and the path of a PEM file');
  t.equal(lines.filter((l) => l.caBundle !== undefined).length, 1);
  t.notOk(JSON.stringify(lines).includes('-----BEGIN'), 'no PEM with escaped line ends in the log');
  t.match(logged.msg, `CA in ${logged.caFile}`, 'the message names the file');
  const ca = { caCert: readFileSync(logged.caFile, 'utf8') };
  t.teardown(() => rm(dirname(logged.caFile), { recursive: true, force: true }));
  t.match(ca.caCert, /^-----BEGIN CERTIFICATE-----\n[^\r]+-----END CERTIFICATE-----\n$/, 'a plain PEM file');
  t.equal(
    Buffer.from(logged.caBundle, 'base64').toString().replace(/\r\n/g, '\n'),
    ca.caCert,
    'caBundle is the base64 of the same CA',
  );
  const url = `https://127.0.0.1:${started.webhookPort}`;

  const review = fixture('deployment-create.json');
  const res = await post(url, ca.caCert, review);
  t.equal(res.status, 200, 'a review over TLS verified by the logged CA');
  const token = patchOf(res.json)!.find((op) => op.path.endsWith('token-update'))!.value;
  t.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes in base64url');
  t.equal((await get(`http://127.0.0.1:${started.httpPort}/readyz`)).status, 200);

  // Start a request, send SIGTERM while its body is still on the way, then finish it.
  const body = Buffer.from(JSON.stringify(review));
  let finish!: () => void;
  const inFlight = new Promise<number>((resolve, reject) => {
    const req = request(
      `${url}/mutate`,
      {
        method: 'POST',
        ca: ca.caCert,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, 50));
    finish = () => req.end(body.subarray(50));
  });
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  finish();
  t.equal(await inFlight, 200, 'the in-flight review is answered after SIGTERM');
  t.equal(await exited, 0, 'exit code 0');
  t.ok(
    lines.some((l) => l.msg === 'stopped'),
    'logged the stop',
  );
  t.notOk(JSON.stringify(lines).includes(String(token)), 'the token is never logged');
});

t.test('main: a bad variable stops the start with a message naming it', async (t) => {
  const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', 'webhook/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', WEBHOOK_PORT: 'eighty', HTTP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 1);
  t.match(stderr, /image-watcher webhook: WEBHOOK_PORT="eighty" is not a port/);
});
