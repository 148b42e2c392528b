import t from 'tap';
import {
  createDiscordNotifier,
  discordPayload,
  DISCORD_LIMITS,
  embedSize,
} from '../../../watcher/notify/discord.ts';
import { createSlackNotifier, slackPayload } from '../../../watcher/notify/slack.ts';
import { createTeamsNotifier, teamsPayload } from '../../../watcher/notify/teams.ts';
import { NotifyDeliveryError } from '../../../watcher/notify/types.ts';
import {
  createWebhookNotifier,
  SIGNATURE_HEADER,
  signBody,
  verifySignature,
} from '../../../watcher/notify/webhook.ts';
import { availableNotice, failedNotice, manyNotices, startCapture } from './fixtures.ts';

t.test('Slack gets a Block Kit message with header, fields, context and buttons', async (t) => {
  const server = await startCapture();
  t.teardown(() => server.close());
  const slack = createSlackNotifier({ channel: 'slack', url: `${server.url}/services/T0/B0/secret` });
  await slack.send([availableNotice()]);

  t.equal(server.requests.length, 1);
  const req = server.requests[0]!;
  t.equal(req.method, 'POST');
  t.equal(req.url, '/services/T0/B0/secret');
  t.match(req.headers['content-type'], /application\/json/);
  const body = JSON.parse(req.body);
  t.equal(body.text, 'Update available: Deployment shop/web (nginx) 1.25.3 → 1.26.0');
  t.same(
    (body.blocks as { type: string }[]).map((b) => b.type),
    ['header', 'section', 'section', 'context', 'actions'],
  );
  t.same(body.blocks[0].text, { type: 'plain_text', text: 'Update available: shop/web', emoji: false });
  t.same(
    (body.blocks[1].fields as { text: string }[]).map((f) => f.text),
    [
      '*Workload*\nDeployment shop/web',
      '*Container*\nnginx',
      '*Image*\ndocker.io/library/nginx:1.25.3',
      '*Version*\n1.25.3 → 1.26.0',
      '*Step*\nminor',
    ],
  );
  t.match(body.blocks[2].text.text, /HTTP\/3 support/);
  t.match(
    body.blocks[3].elements[0].text,
    /minor step · <https:\/\/github\.com\/nginx\/nginx\/releases\/tag\/release-1\.26\.0\|Release notes>/,
  );
  const [approve, notes] = body.blocks[4].elements;
  t.same(approve, {
    type: 'button',
    text: { type: 'plain_text', text: 'Review and update', emoji: false },
    url: availableNotice().approvalUrl,
    action_id: 'approve',
    style: 'primary',
  });
  t.equal(notes.url, 'https://github.com/nginx/nginx/releases/tag/release-1.26.0');
});

t.test('Slack escapes mrkdwn control characters and drops non-http links', (t) => {
  const payload = slackPayload([
    availableNotice({
      releaseNotes: { summary: 'Fixes <script> & <!channel>', url: 'javascript:alert(1)' },
      approvalUrl: undefined,
    }),
  ]);
  const json = JSON.stringify(payload);
  t.match(json, /Fixes &lt;script&gt; &amp; &lt;!channel&gt;/);
  t.notMatch(json, /javascript:/);
  t.notOk(
    payload.blocks.some((b) => b.type === 'actions'),
    'no buttons without safe links',
  );
  t.end();
});

t.test('Slack sends one digest message for a batch, capped in blocks', (t) => {
  const payload = slackPayload(manyNotices(60));
  t.equal(payload.blocks[0]?.type, 'header');
  t.ok(payload.blocks.length <= 50, `Slack allows 50 blocks, got ${payload.blocks.length}`);
  t.match(JSON.stringify(payload.blocks.at(-1)), /…and 20 more/);
  t.match(payload.text, /^image-watcher: 60 notices \(60 update available\)/);
  t.end();
});

t.test('Teams gets an Adaptive Card 1.4 in the workflow envelope', async (t) => {
  const server = await startCapture([{ status: 202 }]);
  t.teardown(() => server.close());
  const teams = createTeamsNotifier({ channel: 'teams', url: `${server.url}/workflows/abc?sig=secret` });
  await teams.send([failedNotice()]);

  const body = JSON.parse(server.requests[0]!.body);
  t.equal(body.type, 'message');
  t.equal(body.attachments.length, 1);
  const att = body.attachments[0];
  t.equal(att.contentType, 'application/vnd.microsoft.card.adaptive');
  t.equal(att.content.type, 'AdaptiveCard');
  t.equal(att.content.version, '1.4');
  t.same(att.content.body[0], {
    type: 'TextBlock',
    text: 'Update failed: data/redis',
    size: 'Large',
    weight: 'Bolder',
    color: 'Attention',
    wrap: true,
  });
  t.same(att.content.body[1].type, 'FactSet');
  t.same((att.content.body[1].facts as unknown[]).at(-1), {
    title: 'Detail',
    value: 'rollout did not finish within 10m: 0 of 3 replicas updated',
  });
  t.notOk(att.content.actions, 'no buttons without links');
});

t.test('Teams card carries approval and release-notes actions', async (t) => {
  const server = await startCapture([{ status: 202 }]);
  t.teardown(() => server.close());
  await createTeamsNotifier({ channel: 'teams', url: server.url }).send([availableNotice()]);
  const card = JSON.parse(server.requests[0]!.body).attachments[0].content;
  t.same(card.actions, [
    { type: 'Action.OpenUrl', title: 'Review and update', url: availableNotice().approvalUrl },
    {
      type: 'Action.OpenUrl',
      title: 'Release notes',
      url: 'https://github.com/nginx/nginx/releases/tag/release-1.26.0',
    },
  ]);
  t.match(card.body[2], { type: 'TextBlock', wrap: true, text: /HTTP\/3/ });
});

t.test('Discord gets an embed with fields, colour by event and no mentions', async (t) => {
  const server = await startCapture([{ status: 204 }]);
  t.teardown(() => server.close());
  await createDiscordNotifier({ channel: 'discord', url: `${server.url}/api/webhooks/1/tok` }).send([
    availableNotice({ image: 'ghcr.io/acme/my_app:1.25.3' }),
  ]);
  const body = JSON.parse(server.requests[0]!.body);
  t.same(body.allowed_mentions, { parse: [] });
  t.equal(body.embeds.length, 1);
  const e = body.embeds[0];
  t.equal(e.title, 'Update available: shop/web');
  t.equal(e.color, 0x1f6feb);
  t.equal(e.url, availableNotice().approvalUrl);
  t.match(e.description, /HTTP\/3 support/);
  t.same(
    (e.fields as { name: string }[]).map((f) => f.name),
    ['Workload', 'Container', 'Image', 'Version', 'Step', 'Release notes', 'Approve'],
  );
  t.equal(e.fields[2].value, 'ghcr.io/acme/my\\_app:1.25.3', 'markdown escaped');
});

t.test('Discord keeps within its limits for huge release notes and digests', (t) => {
  const huge = 'x'.repeat(20_000);
  const single = discordPayload([
    availableNotice({ releaseNotes: { summary: huge }, detail: 'd'.repeat(5000) }),
  ]);
  const e = single.embeds[0]!;
  t.ok([...(e.description ?? '')].length <= DISCORD_LIMITS.description);
  t.ok(e.fields.every((f) => [...f.value].length <= DISCORD_LIMITS.fieldValue));
  t.ok(embedSize(e) <= DISCORD_LIMITS.total, `total ${embedSize(e)} ≤ 6000`);

  const digest = discordPayload(manyNotices(200)).embeds[0]!;
  t.ok([...(digest.description ?? '')].length <= DISCORD_LIMITS.description);
  t.ok(embedSize(digest) <= DISCORD_LIMITS.total);
  t.match(digest.description, /…and \d+ more$/);
  t.end();
});

t.test('the generic webhook sends the documented schema, signed', async (t) => {
  const server = await startCapture();
  t.teardown(() => server.close());
  const secret = 'receiver-shared-secret';
  const at = new Date('2026-11-23T12:00:00Z');
  await createWebhookNotifier({ channel: 'webhook', url: `${server.url}/hook`, secret, now: () => at }).send([
    availableNotice(),
  ]);
  const req = server.requests[0]!;
  const body = JSON.parse(req.body);
  t.same(body, {
    version: 1,
    event: 'available',
    notices: [availableNotice()],
    sentAt: '2026-11-23T12:00:00.000Z',
  });
  t.equal(req.headers['x-image-watcher-timestamp'], String(at.getTime() / 1000));
  const sig = req.headers[SIGNATURE_HEADER.toLowerCase()] as string;
  t.match(sig, /^sha256=[0-9a-f]{64}$/);
  t.ok(verifySignature(secret, req.body, sig), 'receiver verifies the raw body');
  t.notOk(verifySignature('other-secret', req.body, sig), 'wrong secret fails');
  t.notOk(verifySignature(secret, req.body.replace('1.26.0', '9.9.9'), sig), 'changed body fails');
  t.notOk(verifySignature(secret, req.body, undefined), 'missing header fails');
  t.notOk(verifySignature(secret, req.body, 'sha256=00'), 'short header fails');
});

t.test('the generic webhook marks a batch as a digest', async (t) => {
  const server = await startCapture();
  t.teardown(() => server.close());
  await createWebhookNotifier({ channel: 'webhook', url: server.url, secret: 's' }).send(manyNotices(3));
  const req = server.requests[0]!;
  const body = JSON.parse(req.body);
  t.equal(body.event, 'digest');
  t.equal(body.notices.length, 3);
  t.equal(req.headers['x-image-watcher-signature'], signBody('s', req.body));
});

t.test('HTTP errors become typed, retry-classified errors without the secret URL', async (t) => {
  const cases = [
    { name: 'a 400 is not retryable', reply: { status: 400, body: 'invalid_payload' }, retryable: false },
    { name: 'a 404 is not retryable', reply: { status: 404, body: 'no_service' }, retryable: false },
    { name: 'a 500 is retryable', reply: { status: 500 }, retryable: true },
    {
      name: 'a 429 is retryable and carries Retry-After',
      reply: { status: 429, headers: { 'retry-after': '7' } },
      retryable: true,
      retryAfterMs: 7000,
    },
  ];
  for (const c of cases) {
    const server = await startCapture([c.reply]);
    const slack = createSlackNotifier({ channel: 'slack', url: `${server.url}/services/T0/B0/topsecret` });
    const err = await slack.send([availableNotice()]).then(
      () => undefined,
      (e: unknown) => e,
    );
    await server.close();
    t.ok(err instanceof NotifyDeliveryError, c.name);
    const e = err as NotifyDeliveryError;
    t.equal(e.retryable, c.retryable, c.name);
    t.equal(e.status, c.reply.status, c.name);
    t.equal(e.retryAfterMs, c.retryAfterMs, c.name);
    t.notMatch(e.message, /topsecret/, `${c.name}: message hides the URL path`);
    if (c.reply.body) t.match(e.message, c.reply.body, `${c.name}: message shows the server's reason`);
  }
});

t.test('a refused connection is a retryable error', async (t) => {
  const server = await startCapture();
  const url = server.url;
  await server.close();
  const err = await createSlackNotifier({ channel: 'slack', url: `${url}/x/y` })
    .send([availableNotice()])
    .catch((e: unknown) => e);
  t.ok(err instanceof NotifyDeliveryError);
  t.equal((err as NotifyDeliveryError).retryable, true);
  t.match((err as NotifyDeliveryError).message, /ECONNREFUSED/);
});

t.test('an error quoting the URL does not repeat its secret part', async (t) => {
  const err = await createSlackNotifier({
    channel: 'slack',
    url: 'https://hooks.example.com/services/xyzzy',
    fetch: (url) => Promise.reject(new TypeError(`Failed to parse URL from ${url}`)),
  })
    .send([availableNotice()])
    .catch((e: unknown) => e);
  t.ok(err instanceof NotifyDeliveryError);
  t.notMatch((err as Error).message, /xyzzy/);
  t.match((err as Error).message, /Failed to parse URL from https:\/\/hooks\.example\.com\/…/);
});

t.test('Teams digests list each notice with its approval link, capped', (t) => {
  const card = teamsPayload(manyNotices(60)).attachments[0]!.content;
  t.equal(card.body[0]?.text, 'image-watcher: 60 notices (60 update available)');
  t.equal(card.body.length, 52, 'title, 50 notices and a "more" line');
  t.match(
    card.body[1]?.text,
    /^Update available: Deployment shop\/svc-0 nginx 1\.25\.3 → 1\.26\.0 \(minor\) \[Review and update\]\(https:\/\/watcher\.example\.com\/approve\/shop\/Deployment\/svc-0\?v=1\.26\.0/,
  );
  t.equal(card.body.at(-1)?.text, '…and 10 more');
  t.notOk(card.actions);
  t.end();
});

t.test('Slack, Teams and Discord post their payload with the given fetch and cancellation', async (t) => {
  const cases = [
    { make: createSlackNotifier, payload: slackPayload },
    { make: createTeamsNotifier, payload: teamsPayload },
    { make: createDiscordNotifier, payload: discordPayload },
  ];
  for (const c of cases) {
    const seen: { url: string; body: unknown; aborted: boolean | undefined }[] = [];
    const notifier = c.make({
      channel: 'chat',
      url: 'https://hooks.example.com/x',
      retries: 2,
      fetch: (url, init) => {
        seen.push({ url, body: JSON.parse(init.body as string), aborted: init.signal?.aborted });
        // As the real fetch does with an aborted signal.
        if (init.signal?.aborted) return Promise.reject(new DOMException('aborted', 'AbortError'));
        return Promise.resolve(new Response('ok', { status: 200 }));
      },
    });
    const ctrl = new AbortController();
    await notifier.send([availableNotice()], { signal: ctrl.signal });
    t.match(notifier, { channel: 'chat', retries: 2 });
    t.same(seen, [
      { url: 'https://hooks.example.com/x', body: c.payload([availableNotice()]), aborted: false },
    ]);
    ctrl.abort();
    await t.rejects(notifier.send([availableNotice()], { signal: ctrl.signal }), {
      code: 'E_NOTIFY_TIMEOUT',
    });
  }
});
