// Shared by the webhook tests: fixtures, a quiet logger, a running HTTPS webhook, a TLS client.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { Agent } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { Test } from 'tap';
import { cachedImageVersion } from '../../webhook/admission/review.ts';
import { cachedSettingsParser } from '../../webhook/admission/settings-cache.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { generateSelfSigned, webhookHosts } from '../../webhook/self-signed.ts';
import type { SelfSignedCertificate } from '../../webhook/self-signed.ts';
import { startWebhook } from '../../webhook/server.ts';
import type { RunningWebhook, WebhookServerOptions } from '../../webhook/server.ts';

export const WATCHER = 'system:serviceaccount:image-watcher:image-watcher-watcher';

/**
 * Parsed JSON the tests reach into freely (fixtures, responses). Deliberately untyped: a test
 * failing on a missing field is the point, and typing every fixture would hide nothing.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = any;

/** One JSONPatch operation as the webhook sends it. */
export interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
}

const FIXTURES = new URL('../fixtures/admission/', import.meta.url);

/** A fresh copy of a fixture under test/fixtures/admission/. */
export function fixture(name: string): Loose {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'));
}

/** A logger that writes nowhere unless WEBHOOK_TEST_LOGS is set. */
export function quietLogger(): Logger {
  return pino({ level: process.env.WEBHOOK_TEST_LOGS ? 'debug' : 'silent' });
}

/** Deterministic tokens: `tok` + counter, padded to the 43 characters of a real one. */
export function tokenSource(): () => string {
  let n = 0;
  return () => `tok${++n}`.padEnd(43, 'x');
}

let cachedCert: SelfSignedCertificate | undefined;
/** One self-signed CA and certificate shared by tests that do not test certificates themselves. */
export function testCertificate(): SelfSignedCertificate {
  cachedCert ??= generateSelfSigned({
    hosts: webhookHosts('image-watcher-webhook', 'image-watcher'),
    now: new Date(),
  });
  return cachedCert;
}

export interface TestWebhook {
  running: RunningWebhook;
  metrics: WebhookMetrics;
  ca: string;
  url: string;
  httpUrl: string;
}

/** The real HTTPS webhook on 127.0.0.1, closed at the end of the test. */
export async function startTestWebhook(
  t: Test,
  opts: Partial<WebhookServerOptions> = {},
): Promise<TestWebhook> {
  const cert = testCertificate();
  const metrics = opts.metrics ?? new WebhookMetrics({ defaultMetrics: false });
  const running = await startWebhook({
    logger: quietLogger(),
    metrics,
    review: {
      watcherUsernames: [WATCHER],
      randomToken: tokenSource(),
      parseSettings: cachedSettingsParser(),
      imageVersion: cachedImageVersion(),
    },
    tls: { cert: cert.cert, key: cert.key },
    webhookPort: 0,
    httpPort: 0,
    host: '127.0.0.1',
    ...opts,
  });
  t.teardown(() => running.close());
  return {
    running,
    metrics,
    ca: cert.caCert,
    url: `https://127.0.0.1:${running.webhookPort}`,
    httpUrl: `http://127.0.0.1:${running.httpPort}`,
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Loose;
}

function collect(res: IncomingMessage, resolve: (r: Reply) => void, reject: (e: Error) => void) {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('error', reject);
  res.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
  });
}

/** POST over TLS, trusting only `ca` (hostname checked against the certificate's SANs). */
export function post(
  url: string,
  ca: string,
  body: string | Buffer | object,
  opts: { headers?: Record<string, string>; agent?: Agent; path?: string } = {},
): Promise<Reply> {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${url}${opts.path ?? '/mutate'}`,
      {
        method: 'POST',
        ca,
        ...(opts.agent !== undefined ? { agent: opts.agent } : {}),
        headers: { 'content-type': 'application/json', ...opts.headers },
      },
      (res) => collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** GET over TLS trusting only `ca`. */
export function getTls(url: string, ca: string, opts: { servername?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false, ...opts }, (res) => collect(res, resolve, reject));
    req.on('error', reject);
    req.end();
  });
}

/** Plain HTTP GET (health and metrics listener). */
export function get(url: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, (res) => collect(res, resolve, reject));
    req.on('error', reject);
    req.end();
  });
}

/** The decoded JSONPatch of an AdmissionReview response, or undefined. */
export function patchOf(response: Loose): PatchOp[] | undefined {
  const patch: unknown = response?.response?.patch;
  return typeof patch === 'string'
    ? (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as PatchOp[])
    : undefined;
}
