// Fuzz target: registry response parsers. The pure ones (WWW-Authenticate, Link, manifests, labels)
// directly; the tag-list, digest and token parsing (private to the client) through the client's
// exported API with an injected fetch, so hostile answers reach the real code paths.
import fc from 'fast-check';
import t from 'tap';
import { ImageWatcherError } from '../../shared/errors.ts';
import { parseImageReference } from '../../shared/image-ref.ts';
import { parseNextLink, parseWwwAuthenticate } from '../../watcher/registry/challenge.ts';
import { TAG_RE, createRegistryClient } from '../../watcher/registry/client.ts';
import { labelsFromConfig, parseManifest, pickPlatform } from '../../watcher/registry/manifest.ts';
import { RUNS, SEED, corpus, params } from './support.ts';

t.comment(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);

const anyText = (max: number) => fc.string({ unit: 'binary', maxLength: max });
const headerText = (max: number) =>
  fc.oneof(
    fc.string({ unit: fc.constantFrom(...'Bearer Basic realm=",\\ \t<>;relnext/:?&'), maxLength: max }),
    fc.string({ unit: 'binary-ascii', maxLength: max }),
  );
/** A quoted-string of RFC 7230: backslash escapes `"` and `\`. */
const quote = (v: string): string => `"${v.replace(/["\\]/g, '\\$&')}"`;
const paramKey = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/).filter((k) => k !== '__proto__');

t.test('parseWwwAuthenticate never throws and returns a supported scheme with string params', (t) => {
  fc.assert(
    fc.property(headerText(200), (header) => {
      const c = parseWwwAuthenticate(header);
      if (c === undefined) return;
      if (c.scheme !== 'basic' && c.scheme !== 'bearer') throw new Error(`scheme ${String(c.scheme)}`);
      for (const v of Object.values(c.params))
        if (typeof v !== 'string') throw new Error('param not a string');
    }),
    params<[string]>(),
  );
  t.pass('property held');
  t.end();
});

t.test('a written challenge parses back to its scheme and parameters', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('Bearer', 'bearer', 'Basic'),
      fc.uniqueArray(fc.tuple(paramKey, anyText(30)), { minLength: 1, maxLength: 4, selector: ([k]) => k }),
      fc.constantFrom(',', ', ', ' ,  '),
      (scheme, pairs, sep) => {
        const header = `${scheme} ${pairs.map(([k, v]) => `${k}=${quote(v)}`).join(sep)}`;
        const c = parseWwwAuthenticate(header);
        if (c?.scheme !== scheme.toLowerCase()) throw new Error(`${header}: scheme ${c?.scheme}`);
        for (const [k, v] of pairs) {
          if (c.params[k] !== v)
            throw new Error(`${header}: ${k}=${JSON.stringify(c.params[k])}, not ${JSON.stringify(v)}`);
        }
      },
    ),
    params<[string, [string, string][], string]>(),
  );
  t.pass('property held');
  t.end();
});

t.test('parseNextLink never throws; a written next link is found among others', (t) => {
  fc.assert(
    fc.property(headerText(200), (h) => void parseNextLink(h)),
    params<[string]>(),
  );
  const url = fc.string({ unit: fc.constantFrom(...'abc019/?=&.%_-:'), minLength: 1, maxLength: 60 });
  fc.assert(
    fc.property(
      url,
      fc.option(url),
      fc.constantFrom('rel="next"', 'rel=next', 'REL="next"'),
      (next, prev, rel) => {
        const parts = [...(prev === null ? [] : [`<${prev}>; rel="prev"`]), `<${next}>; ${rel}`];
        const got = parseNextLink(parts.join(', '));
        if (got !== next) throw new Error(`${parts.join(', ')}: ${got}`);
      },
    ),
    params<[string, string | null, string]>(),
  );
  t.pass('properties held');
  t.end();
});

t.test('parseManifest, pickPlatform and labelsFromConfig take any JSON', (t) => {
  const manifestLike = fc.oneof(
    fc.anything(),
    fc.record({
      mediaType: fc.option(fc.constantFrom('application/vnd.oci.image.index.v1+json', 'x', 7)),
      manifests: fc.oneof(
        fc.anything(),
        fc.array(fc.record({ digest: fc.anything(), platform: fc.anything() })),
      ),
      config: fc.oneof(fc.anything(), fc.record({ digest: fc.anything(), Labels: fc.anything() })),
    }),
  );
  fc.assert(
    fc.property(manifestLike, fc.option(anyText(60)), (body, contentType) => {
      const m = parseManifest(body, contentType ?? undefined);
      if (m?.kind === 'index') {
        if (!m.manifests.every((x) => typeof x.digest === 'string')) throw new Error('digest not a string');
        const picked = pickPlatform(m.manifests);
        if (picked !== undefined && !m.manifests.some((x) => x.digest === picked))
          throw new Error('picked a stranger');
      } else if (m !== undefined && typeof m.configDigest !== 'string') throw new Error('config digest');
      const labels = labelsFromConfig(body);
      for (const [k, v] of Object.entries(labels)) {
        if (typeof k !== 'string' || typeof v !== 'string') throw new Error('label not a string');
      }
    }),
    params<[unknown, string | null]>(),
  );
  t.pass('property held');
  t.end();
});

// --- through the client ------------------------------------------------------------------------------

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const REF = parseImageReference('127.0.0.1:5000/app:1.0.0');
const TAG_JSON = fc
  .array(fc.oneof(fc.stringMatching(/^\w[\w.-]{0,20}$/), anyText(20), fc.constant(null), fc.integer()), {
    maxLength: 8,
  })
  .map((tags) => JSON.stringify({ name: 'app', tags }));
const answer: fc.Arbitrary<Answer> = fc.record({
  status: fc.constantFrom(200, 200, 200, 401, 403, 404, 429, 500, 503, 302, 204),
  headers: fc.record(
    {
      'content-type': fc.constantFrom(
        'application/json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'text/html',
      ),
      'www-authenticate': fc.oneof(
        headerText(80),
        fc.constantFrom(
          'Bearer realm="http://127.0.0.1:5000/token",service="r"',
          'Basic realm="r"',
          'Bearer realm="file:///etc/passwd"',
        ),
      ),
      link: fc.oneof(
        headerText(60),
        fc.constantFrom('</v2/app/tags/list?last=x>; rel="next"', '<http://x.invalid/>; rel=next'),
      ),
      'retry-after': fc.oneof(fc.constantFrom('0', '1', '999999', 'soon'), anyText(10)),
      'docker-content-digest': fc.oneof(
        fc.stringMatching(/^sha256:[0-9a-f]{64}$/),
        fc.constantFrom('sha256:zz', '../../x', ''),
      ),
    },
    { requiredKeys: [] },
  ),
  body: fc.oneof(
    TAG_JSON,
    anyText(120),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.constant('{"token":"t","expires_in":-1}'),
    fc.constant(
      '{"manifests":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}',
    ),
  ),
});

/**
 * Asks for tags, a digest and labels from a registry giving `answers` in order (the last repeated);
 * returns what each call gave (a value, or the error code).
 */
async function ask(answers: readonly Answer[]): Promise<unknown[]> {
  let clock = 1_700_000_000_000;
  let calls = 0;
  const client = createRegistryClient({
    fetch: () => {
      const a = answers[Math.min(calls++, answers.length - 1)]!;
      const noBody = a.status === 204 || a.status === 304;
      return Promise.resolve(new Response(noBody ? null : a.body, { status: a.status, headers: a.headers }));
    },
    // Virtual time: backoff and rate limiting advance the clock instead of waiting.
    now: () => clock,
    sleep: (ms) => {
      clock += ms;
      return Promise.resolve();
    },
    random: () => 0.5,
    maxAttempts: 2,
    maxPages: 4,
    ratePerSecond: 1000,
    burst: 1000,
    timeoutMs: 5000,
  });
  const outcomes: unknown[] = [];
  for (const call of [
    () => client.listTags(REF),
    () => client.getDigest(REF, '1.0.0'),
    () => client.getImageLabels(REF, '1.0.0'),
  ]) {
    try {
      const result: unknown = await call();
      if (Array.isArray(result)) {
        // Only tags of the distribution grammar (128 characters at most) are ever kept.
        if (!result.every((x) => typeof x === 'string' && TAG_RE.test(x)))
          throw new Error('a tag outside the grammar');
      } else if (typeof result === 'object' && result !== null) {
        for (const v of Object.values(result))
          if (typeof v !== 'string') throw new Error('a label not a string');
      } else if (typeof result !== 'string') throw new Error(`unexpected ${typeof result}`);
      outcomes.push(result);
    } catch (err) {
      // A hostile answer may only ever give the typed error.
      if (!(err instanceof ImageWatcherError)) throw err;
      outcomes.push(err.code);
    }
  }
  if (calls > 100) throw new Error(`${calls} requests for three calls`);
  return outcomes;
}

t.test('the corpus replays: hostile registry answers and past findings', async (t) => {
  const entries = corpus<Answer[]>('registry');
  for (const [n, answers] of entries.entries()) await t.resolves(ask(answers), `corpus entry ${n}`);
  // The harness reaches the success paths too, not only errors.
  const [tags] = await ask(entries[0]!);
  t.same(tags, ['1.0.0', '1.0.1'], 'a plain tag list is read');
  const [long] = await ask(entries[4]!);
  t.same(long, [], 'a 150-character tag is not kept');
  const [, , token] = entries[8]!;
  t.ok(token, 'the token entry exists');
  const [authed] = await ask(entries[8]!);
  t.same(authed, ['1'], 'a Bearer challenge is answered with a token and the list read');
});

t.test('tags, digests and labels from hostile answers give values or the typed error only', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(answer, { minLength: 1, maxLength: 5 }), async (a) => void (await ask(a))),
    params<[readonly Answer[]]>([], Math.ceil(RUNS / 2)),
  );
  t.pass('property held');
});
