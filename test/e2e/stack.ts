// The running system the end-to-end test and the dashboard screenshot use:
// docker-registry with three versions of an image, the fake API server with annotated
// workloads, the real webhook and watcher processes, an Alertmanager delivering to a
// receiver here, and the Debian prometheus scraping both with the shipped rules.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { startAlertmanager, type Alertmanager } from '../support/alertmanager.ts';
import { freePort, startDaemon } from '../support/daemon.ts';
import { startFakeKube } from '../support/fake-kube/index.ts';
import { buildImage } from '../support/images.ts';
import { startPrometheus, type Prometheus } from '../support/prometheus.ts';
import { pushImage, startRegistry, watcherNotifications } from '../support/registry.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULES_FILE = join(ROOT, 'manifests/monitoring/rules.yaml');

/** rules.yaml with the outdated-image alert pending for `forDuration` instead of 24h. */
export function rulesWithShortOutdatedFor(text: string, forDuration: string): string {
  const rules = parse(text) as { groups: { rules: { alert?: string; for?: string }[] }[] };
  const outdated = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'ImageWatcherImageOutdated');
  if (!outdated) throw new Error('rules.yaml has no ImageWatcherImageOutdated alert');
  outdated.for = forDuration;
  return stringify(rules);
}

export interface Received {
  path: string;
  body: unknown;
}

/** The part of an AdmissionReview response the tests look at. */
export interface ReviewResponse {
  response: { uid: string; allowed: boolean; patch?: string; status?: { message?: string } };
}

export interface ReceivedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Stack {
  prometheus: Prometheus;
  alertmanager: Alertmanager;
  webhookPort: number;
  registryHost: string;
  /** Requests Alertmanager (/alerts) and the watcher's notifications (/notify) sent. */
  received: Received[];
  alerts(): ReceivedAlert[];
  /** How many admission reviews the background traffic sent. */
  admissions(): number;
  review(object: Record<string, unknown>): Promise<ReviewResponse>;
  /** Pushes another version of the test image (new updates and notifications follow). */
  pushTag(tag: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** `for` of ImageWatcherImageOutdated in the evaluated rules. */
  outdatedFor?: string;
  /** Watcher entry point relative to the repository root. */
  watcherMain?: string;
  webhookMain?: string;
  log?: (line: string) => void;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function deployment(
  name: string,
  image: string,
  annotations: Record<string, string>,
  namespace = 'shop',
): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, annotations },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
}

/** Posts a CREATE AdmissionReview to the webhook over HTTPS (its self-signed certificate). */
export async function review(port: number, object: Record<string, unknown>): Promise<ReviewResponse> {
  const metadata = object.metadata as { name: string; namespace: string };
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      requestKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      requestResource: { group: 'apps', version: 'v1', resource: 'deployments' },
      name: metadata.name,
      namespace: metadata.namespace,
      operation: 'CREATE',
      userInfo: { username: 'alice' },
      object,
      oldObject: null,
      dryRun: false,
    },
  });
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate',
        method: 'POST',
        rejectUnauthorized: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 3000,
      },
      (res) => {
        readBody(res).then((text) => resolve(JSON.parse(text) as ReviewResponse), reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('admission review timed out')));
    req.end(body);
  });
}

/** Generous: two Node processes load TypeScript through ts-node on a shared machine. */
const STARTUP_TIMEOUT_MS = 60_000;
const REGISTRY_WEBHOOK_TOKEN = 'e2e-registry-webhook-token-0123';

/** Awaits every start; registers the stop of each that started, then rethrows the first failure. */
async function startAll<T extends { stop(): Promise<void> }>(
  stoppers: (() => Promise<void>)[],
  starts: Promise<T>[],
): Promise<T[]> {
  const results = await Promise.allSettled(starts);
  for (const r of results) if (r.status === 'fulfilled') stoppers.push(() => r.value.stop());
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const log = opts.log ?? (() => undefined);
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stoppers.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), 'iw-e2e-'));
    stoppers.push(() => rm(dir, { recursive: true, force: true }));

    // Receiver for Alertmanager's webhook and the watcher's notifications.
    const received: Received[] = [];
    const receiver = createServer((req, res) => {
      readBody(req).then(
        (text) => {
          received.push({ path: req.url ?? '', body: JSON.parse(text || 'null') });
          res.writeHead(200).end();
        },
        () => res.writeHead(400).end(),
      );
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    stoppers.push(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

    // The watcher's port first: the registry sends its push events there (queued until it is up),
    // so the push-event panel has pairs that occurred.
    const watcherPort = await freePort();
    const registry = await startRegistry(
      { kind: 'none' },
      { notifications: watcherNotifications(watcherPort, REGISTRY_WEBHOOK_TOKEN) },
    );
    stoppers.push(() => registry.stop());
    for (const tag of ['1.0.0', '1.1.0', '1.2.0', '2.0.0']) {
      await pushImage(registry.url, 'e2e/app', [tag], buildImage());
    }
    const image = (tag: string): string => `${registry.host}/e2e/app:${tag}`;
    log(`registry ${registry.url}`);

    // web notifies (MINOR: 1.2.0), api updates itself to 1.2.0, ledger is up to date,
    // gateway notifies about a new major (ALL: 2.0.0), catalog is held below 1.2 by its constraint
    // (the held-updates panel).
    const kube = await startFakeKube();
    stoppers.push(() => kube.close());
    kube.seed(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments' } },
      deployment('web', image('1.0.0'), {
        'image-watcher/mode': 'NOTIFICATION',
        'image-watcher/strategy': 'MINOR',
      }),
      deployment('api', image('1.1.0'), {
        'image-watcher/mode': 'AUTO_UPDATE',
        'image-watcher/strategy': 'MINOR',
      }),
      deployment('ledger', image('2.0.0'), { 'image-watcher/mode': 'NOTIFICATION' }, 'payments'),
      deployment('gateway', image('1.2.0'), { 'image-watcher/mode': 'NOTIFICATION' }, 'payments'),
      deployment(
        'catalog',
        image('1.0.0'),
        { 'image-watcher/mode': 'NOTIFICATION', 'image-watcher/constraint': '<1.2' },
        'payments',
      ),
    );
    const kubeconfigFile = join(dir, 'kubeconfig.json');
    await writeFile(kubeconfigFile, kube.kubeconfig.exportConfig());

    // A clean environment; ts-node only transpiles (type checking is tsc's job and
    // takes tens of seconds per process).
    const baseEnv = {
      PATH: process.env.PATH,
      HOME: dir,
      NODE_ENV: 'test',
      LOG_LEVEL: 'WARN',
      TS_NODE_TRANSPILE_ONLY: '1',
    };
    const node = (main: string): string[] => ['--import', './bench/register.js', main];

    // Both processes start at once: loading TypeScript takes a while on a busy machine.
    const webhookPort = await freePort();
    const webhookHttpPort = await freePort();
    await startAll(stoppers, [
      startDaemon({
        name: 'webhook',
        command: process.execPath,
        args: node(opts.webhookMain ?? 'webhook/main.ts'),
        cwd: ROOT,
        env: { ...baseEnv, WEBHOOK_PORT: String(webhookPort), HTTP_PORT: String(webhookHttpPort) },
        readyUrl: `http://127.0.0.1:${webhookHttpPort}/readyz`,
        timeoutMs: STARTUP_TIMEOUT_MS,
      }),
      startDaemon({
        name: 'watcher',
        command: process.execPath,
        args: node(opts.watcherMain ?? 'watcher/main.ts'),
        cwd: ROOT,
        env: {
          ...baseEnv,
          KUBECONFIG: kubeconfigFile,
          HTTP_PORT: String(watcherPort),
          RUN_ON_BOOT: 'TRUE',
          CHECK_INTERVAL: '2s',
          // Ask the registry on every check, so the registry panels have fresh data.
          REGISTRY_CACHE_TTL: '1s',
          LEADER_ELECTION: 'false',
          NOTIFY_WEBHOOK_URL: `${receiverUrl}/notify`,
          NOTIFY_WEBHOOK_SECRET: 'e2e-notification-signing-secret',
          // Push receivers on, so the push-event panel and alert have their series.
          REGISTRY_WEBHOOK_TOKEN,
        },
        readyUrl: `http://127.0.0.1:${watcherPort}/readyz`,
        timeoutMs: STARTUP_TIMEOUT_MS,
      }),
    ]);
    log(`webhook https://127.0.0.1:${webhookPort}, metrics http://127.0.0.1:${webhookHttpPort}`);
    log(`watcher http://127.0.0.1:${watcherPort}`);

    const alertmanager = await startAlertmanager({ webhookUrl: `${receiverUrl}/alerts` });
    stoppers.push(() => alertmanager.stop());
    const prometheus = await startPrometheus({
      targets: [
        { job: 'image-watcher-watcher', address: `127.0.0.1:${watcherPort}` },
        { job: 'image-watcher-webhook', address: `127.0.0.1:${webhookHttpPort}` },
      ],
      rules: rulesWithShortOutdatedFor(await readFile(RULES_FILE, 'utf8'), opts.outdatedFor ?? '2s'),
      alertmanager: alertmanager.address,
      interval: '1s',
    });
    stoppers.push(() => prometheus.stop());
    log(`prometheus ${prometheus.url}, alertmanager ${alertmanager.url}`);

    // Background admission traffic for the webhook panels: stamped and denied workloads.
    let admissions = 0;
    let round = 0;
    const traffic = setInterval(() => {
      round++;
      const creates = [
        review(
          webhookPort,
          deployment(`web-${round}`, image('1.0.0'), { 'image-watcher/mode': 'NOTIFICATION' }),
        ),
        review(
          webhookPort,
          deployment(`typo-${round}`, image('1.0.0'), { 'image-watcher/strategie': 'MINOR' }),
        ),
      ];
      Promise.all(creates).then(
        () => (admissions += creates.length),
        (err: unknown) => log(`admission review failed: ${String(err)}`),
      );
    }, 500);
    stoppers.push(() => {
      clearInterval(traffic);
      return Promise.resolve();
    });

    return {
      prometheus,
      alertmanager,
      webhookPort,
      registryHost: registry.host,
      received,
      alerts: () =>
        received
          .filter((r) => r.path === '/alerts')
          .flatMap((r) => (r.body as { alerts: ReceivedAlert[] }).alerts),
      admissions: () => admissions,
      review: (object) => review(webhookPort, object),
      pushTag: async (tag) => {
        await pushImage(registry.url, 'e2e/app', [tag], buildImage());
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
