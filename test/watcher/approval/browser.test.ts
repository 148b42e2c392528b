// The approval page in a real headless Chromium, against a real fastify server and the fake
// Kubernetes API server: open the link, read the versions, press "Update now", and check that the
// patch reached the API server. Set APPROVAL_SCREENSHOT=docs/approval.png to refresh the README image.
import Fastify from 'fastify';
import pino from 'pino';
import { chromium, type Browser } from 'playwright-core';
import t from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import { createApprovalUrl } from '../../../watcher/approval/links.ts';
import { approvalPlugin, type ApprovalDeps } from '../../../watcher/approval/plugin.ts';
import { ClientNodeGateway } from '../../../watcher/kube/client.ts';
import type { WorkloadKind } from '../../../watcher/kube/types.ts';
import { startFakeKube } from '../../support/fake-kube/index.ts';
import { startOnFreePort } from '../../support/daemon.ts';
import { findProgram } from '../../support/programs.ts';

const SECRET = 'browser-test-secret-0123456789';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'web',
    namespace: 'shop',
    annotations: { 'image-watcher/mode': 'NOTIFICATION', 'image-watcher/current-version': '1.25.3' },
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'nginx', image: 'nginx:1.25.3' }] },
    },
  },
};

t.test('approve an update in a real browser', async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  kube.seed(deployment);
  const gateway = new ClientNodeGateway({ kubeConfig: kube.kubeconfig, logger: pino({ level: 'silent' }) });

  // What the watcher does for an approved link, reduced to the patch it sends.
  const deps: ApprovalDeps = {
    secret: SECRET,
    publicUrl: '',
    now: () => Date.now(),
    async lookup(namespace: string, kind: WorkloadKind, name: string) {
      const w = await gateway.getWorkload(kind, namespace, name);
      const c = w?.containers[0];
      if (!w || !c) return undefined;
      return {
        workload: { kind, namespace, name },
        containers: w.containers.map((x) => x.name),
        images: w.containers.map((x) => x.image),
        currentVersion: parseImageReference(c.image).tag ?? c.image,
        newestVersion: '1.27.1',
        releaseNotes: {
          url: 'https://github.com/nginx/nginx/releases/tag/release-1.26.0',
          summary:
            'Stable 1.26 branch. HTTP/3 (QUIC) support is no longer experimental; ' +
            'the ssl_reject_handshake directive and $proxy_protocol_tlv variables are new. ' +
            'Bug fixes for HTTP/2 and the resolver.',
        },
      };
    },
    async update(namespace: string, kind: WorkloadKind, name: string, version: string) {
      const w = await gateway.getWorkload(kind, namespace, name);
      const c = w?.containers[0];
      if (!w || !c) return { ok: false, message: 'The workload is gone.' };
      const ref = parseImageReference(c.image);
      const image = `${ref.name}:${version}`;
      await gateway.patchWorkload(kind, namespace, name, [
        { op: 'test', path: c.imagePath, value: c.image },
        { op: 'replace', path: c.imagePath, value: image },
        { op: 'add', path: '/metadata/annotations/image-watcher~1last-updated-version', value: version },
      ]);
      return { ok: true, message: `The image of ${name} is now ${image}; Kubernetes is rolling it out.` };
    },
  };

  // The links name the origin, so the port is chosen before the app listens on it.
  const { app, origin } = await startOnFreePort(async (port) => {
    const origin = `http://127.0.0.1:${port}`;
    const app = Fastify();
    await app.register(approvalPlugin, { ...deps, publicUrl: origin });
    try {
      await app.listen({ port, host: '127.0.0.1' });
    } catch (err) {
      await app.close();
      throw err;
    }
    return { app, origin };
  });
  t.teardown(() => app.close());

  const link = (version: string, now = Date.now()) =>
    createApprovalUrl(
      { namespace: 'shop', kind: 'Deployment', name: 'web', version, from: '1.25.3', stamp: '' },
      { secret: SECRET, publicUrl: origin, now },
    );

  const browser: Browser = await chromium.launch({
    executablePath: findProgram('chromium', { envVar: 'CHROMIUM' }),
    args: CHROMIUM_ARGS,
    headless: true,
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 820, height: 760 } });
  page.setDefaultTimeout(10_000);

  // Expired and tampered links: a clear page, nothing else.
  const expired = await page.goto(link('1.26.0', Date.now() - 8 * 86_400_000));
  t.equal(expired?.status(), 403);
  t.equal(await page.locator('h1').innerText(), 'This approval link has expired');
  const tampered = await page.goto(link('1.26.0').replace('v=1.26.0', 'v=1.27.1'));
  t.equal(tampered?.status(), 403);
  t.equal(await page.locator('h1').innerText(), 'This link is not valid');
  t.equal(await page.locator('button').count(), 0);

  // The real link.
  const res = await page.goto(link('1.26.0'));
  t.equal(res?.status(), 200);
  t.equal(await page.locator('h1').innerText(), 'Update web to 1.26.0?');
  t.equal(await page.locator('dt:has-text("Current version") + dd').innerText(), '1.25.3');
  t.equal(await page.locator('dt:has-text("Proposed version") + dd').innerText(), '1.26.0');
  t.match(await page.locator('.notes').innerText(), /HTTP\/3 \(QUIC\) support/);
  const button = page.getByRole('button', { name: 'Update now' });
  t.equal(await button.count(), 1, 'the button has an accessible name');
  // Keyboard users see where they are.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await button.focus();
  const outline = await page.evaluate('getComputedStyle(document.activeElement).outlineStyle');
  t.equal(outline, 'solid', 'visible focus outline');
  const screenshot = process.env.APPROVAL_SCREENSHOT;
  if (screenshot) {
    await page.evaluate('document.activeElement.blur()');
    await page.screenshot({ path: screenshot, fullPage: true });
  }

  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  kube.clearRequests();
  await Promise.all([page.waitForURL(/\/approve\/shop\/Deployment\/web$/), button.click()]);
  t.equal(await page.locator('h1').innerText(), 'Updating to 1.26.0');
  t.match(await page.locator('[role="status"] p').innerText(), /Kubernetes is rolling it out/);

  const patches = kube.requestsMatching({ method: 'PATCH' });
  t.equal(patches.length, 1, 'one patch reached the API server');
  t.equal(patches[0]?.path, '/apis/apps/v1/namespaces/shop/deployments/web');
  t.match(patches[0]?.contentType, /application\/json-patch\+json/);
  const stored = kube.get('Deployment', 'shop', 'web') as unknown as typeof deployment & {
    metadata: { annotations: Record<string, string> };
  };
  t.equal(stored.spec.template.spec.containers[0]?.image, 'nginx:1.26.0');
  t.equal(stored.metadata.annotations['image-watcher/last-updated-version'], '1.26.0');
  t.same(violations, [], 'no CSP violations');

  // Going back and pressing again does not update twice.
  await page.goto(link('1.26.0'));
  t.equal(await page.locator('h1').innerText(), 'Already up to date');
  t.equal(kube.requestsMatching({ method: 'PATCH' }).length, 1);
});
