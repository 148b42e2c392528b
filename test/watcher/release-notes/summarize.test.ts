import t from 'tap';
import {
  chatCompletionsUrl,
  summarizeReleaseNotes,
  SYSTEM_PROMPT,
} from '../../../watcher/release-notes/summarize.ts';
import { captureLogger } from '../../support/logs.ts';
import { startServer } from './helpers.ts';
import type { FakeServer } from './helpers.ts';

const KEY = 'sk-test-0123456789';

/** A fake OpenAI-compatible endpoint: answers per path, captures every request. */
async function fakeOpenAi(): Promise<FakeServer> {
  return startServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/v1/chat/completions') {
      return reply(200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: '\n- Breaking: drops v1 API\n- Faster startup\n' },
            finish_reason: 'stop',
          },
        ],
      });
    }
    if (req.url === '/long/chat/completions') {
      return reply(200, { choices: [{ message: { content: 'y'.repeat(5000) } }] });
    }
    if (req.url === '/empty/chat/completions') return reply(200, { choices: [] });
    if (req.url === '/error/chat/completions') return reply(500, { error: { message: `echo ${KEY}` } });
    if (req.url === '/slow/chat/completions') return; // never answers
    reply(404, { error: 'not found' });
  });
}

const request = {
  image: 'traefik',
  version: 'v3.1.2',
  title: 'v3.1.2',
  body: '## Changes\n- drop v1 API\n- faster',
};

t.test('the endpoint is found from any usual OPEN_AI_URL', (t) => {
  const cases: [string, string][] = [
    ['https://api.openai.com', 'https://api.openai.com/v1/chat/completions'],
    ['https://api.openai.com/', 'https://api.openai.com/v1/chat/completions'],
    ['https://api.openai.com/v1', 'https://api.openai.com/v1/chat/completions'],
    ['http://127.0.0.1:11434/v1/', 'http://127.0.0.1:11434/v1/chat/completions'],
    ['http://llm/v1/chat/completions', 'http://llm/v1/chat/completions'],
    ['https://proxy.example/openai', 'https://proxy.example/openai/chat/completions'],
  ];
  for (const [input, want] of cases) t.equal(chatCompletionsUrl(input), want, `${input} -> ${want}`);
  t.end();
});

t.test('a summary is asked for with the model, a short prompt and the key', async (t) => {
  const ai = await fakeOpenAi();
  t.teardown(() => ai.close());
  const { logger } = captureLogger();
  const summary = await summarizeReleaseNotes(request, {
    url: `${ai.origin}/v1`,
    key: KEY,
    model: 'gpt-4o-mini',
    logger,
  });
  t.equal(summary, '- Breaking: drops v1 API\n- Faster startup');
  const req = ai.requests[0];
  t.equal(req?.method, 'POST');
  t.equal(req?.headers.authorization, `Bearer ${KEY}`);
  t.match(req?.headers['content-type'], 'application/json');
  const body = JSON.parse(req?.body ?? '{}') as {
    model: string;
    messages: { role: string; content: string }[];
  };
  t.equal(body.model, 'gpt-4o-mini');
  t.equal(body.messages[0]?.role, 'system');
  t.equal(body.messages[0]?.content, SYSTEM_PROMPT);
  t.match(SYSTEM_PROMPT, /at most 3 .*bullet points/);
  t.match(SYSTEM_PROMPT, /breaking changes/);
  t.equal(body.messages[1]?.role, 'user');
  t.match(
    body.messages[1]?.content,
    'Release notes of traefik v3.1.2 ("v3.1.2"):\n\n## Changes\n- drop v1 API',
  );
});

t.test('without a key no authorization header is sent', async (t) => {
  const ai = await fakeOpenAi();
  t.teardown(() => ai.close());
  const { logger } = captureLogger();
  const summary = await summarizeReleaseNotes(request, { url: ai.origin, model: 'llama3', logger });
  t.ok(summary);
  t.equal(ai.requests[0]?.headers.authorization, undefined);
});

t.test('long notes are cut before sending and a long answer is cut too', async (t) => {
  const ai = await fakeOpenAi();
  t.teardown(() => ai.close());
  const { logger } = captureLogger();
  const summary = await summarizeReleaseNotes(
    { ...request, body: 'z'.repeat(50_000) },
    { url: `${ai.origin}/long`, model: 'm', logger, maxInputChars: 1000 },
  );
  const sent = JSON.parse(ai.requests[0]?.body ?? '{}') as { messages: { content: string }[] };
  const user = sent.messages[1]?.content ?? '';
  t.ok(user.length < 1200, 'input capped');
  t.ok(user.endsWith('[cut]'));
  t.equal(summary?.length, 1200, 'output capped at the default');
});

t.test('failures give no summary, are logged, and never show the key', async (t) => {
  const ai = await fakeOpenAi();
  t.teardown(() => ai.close());
  const { logger, lines } = captureLogger();
  const opts = { key: KEY, model: 'm', logger, timeoutMs: 300 };
  t.equal(
    await summarizeReleaseNotes(request, { ...opts, url: `${ai.origin}/error` }),
    undefined,
    'HTTP 500',
  );
  t.equal(
    await summarizeReleaseNotes(request, { ...opts, url: `${ai.origin}/empty` }),
    undefined,
    'no choices',
  );
  t.equal(await summarizeReleaseNotes(request, { ...opts, url: `${ai.origin}/slow` }), undefined, 'timeout');
  t.equal(await summarizeReleaseNotes(request, { ...opts, url: 'not a url' }), undefined, 'bad URL');
  const warnings = lines.filter((l) => l.level === 40);
  t.equal(warnings.length, 4);
  t.equal(warnings[0]?.status, 500);
  t.match(warnings[1]?.msg, /no message content/);
  t.equal(warnings[2]?.reason, 'timed out');
  t.notMatch(JSON.stringify(lines), KEY, 'the key is not logged');
});

t.test('an unreachable endpoint gives no summary', async (t) => {
  const ai = await fakeOpenAi();
  const origin = ai.origin;
  await ai.close();
  const { logger, lines } = captureLogger();
  t.equal(await summarizeReleaseNotes(request, { url: origin, model: 'm', logger }), undefined);
  t.equal(lines.filter((l) => l.level === 40).length, 1);
});

t.test('empty notes are not sent at all', async (t) => {
  const ai = await fakeOpenAi();
  t.teardown(() => ai.close());
  const { logger } = captureLogger();
  t.equal(
    await summarizeReleaseNotes({ ...request, body: '  ' }, { url: ai.origin, model: 'm', logger }),
    undefined,
  );
  t.equal(ai.requests.length, 0);
});
