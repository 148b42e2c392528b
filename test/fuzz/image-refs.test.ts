// Fuzz target: image references (parse, normalise, format).
import fc from 'fast-check';
import t from 'tap';
import {
  InvalidImageReferenceError,
  canonicalName,
  familiarString,
  imageWithTag,
  parseImageReference,
} from '../../shared/image-ref.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { SEED, corpus, params } from './support.ts';

t.comment(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);

/** Parses, or undefined when the only error is the typed one; anything else is thrown on. */
function tryParse(input: string): ImageReference | undefined {
  try {
    return parseImageReference(input);
  } catch (err) {
    if (err instanceof InvalidImageReferenceError) {
      if (err.code !== 'E_IMAGE_REF') throw new Error(`code ${err.code}`, { cause: err });
      if (err.message.length > 400)
        throw new Error(`message of ${err.message.length} characters`, { cause: err });
      return undefined;
    }
    throw err;
  }
}

const same = (a: ImageReference, b: ImageReference): boolean =>
  a.registry === b.registry && a.repository === b.repository && a.tag === b.tag && a.digest === b.digest;

/** The normalised form parses back to itself, and re-tagging keeps the name as written. */
function roundTrip(input: string): void {
  const ref = tryParse(input);
  if (ref === undefined) return;
  const again = parseImageReference(familiarString(ref));
  if (!same(ref, again)) throw new Error(`${familiarString(ref)} parses to ${familiarString(again)}`);
  if (canonicalName(again) !== canonicalName(ref)) throw new Error('canonical name changed');
  if (ref.tag !== undefined) {
    const retagged = parseImageReference(imageWithTag(ref, ref.tag, ref.digest));
    if (retagged.name !== ref.name || !same(ref, retagged)) throw new Error(`re-tagging ${input} changed it`);
  }
}

const lower = 'abcdefghijklmnopqrstuvwxyz0123456789';
const alnum = (max: number) => fc.string({ unit: fc.constantFrom(...lower), minLength: 1, maxLength: max });
const component = fc
  .tuple(alnum(8), fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), alnum(6)), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([sep, part]) => sep + part).join(''));
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const host = fc.oneof(
  fc.constant('localhost'),
  fc.array(label, { minLength: 2, maxLength: 3 }).map((ls) => ls.join('.')),
  fc.constantFrom('[::1]', '127.0.0.1'),
);
const registry = fc.option(
  fc
    .tuple(host, fc.option(fc.integer({ min: 1, max: 65535 })))
    .map(([h, p]) => (p === null ? h : `${h}:${p}`)),
);
const tag = fc.stringMatching(/^\w[\w.-]{0,20}$/);
const digest = fc.stringMatching(/^[0-9a-f]{64}$/).map((hex) => `sha256:${hex}`);

/** A valid reference as a user writes it, and the fields it must parse to. */
const written = fc
  .tuple(registry, fc.array(component, { minLength: 1, maxLength: 3 }), fc.option(tag), fc.option(digest))
  .filter(([reg, path]) => reg !== null || !/[.:]/.test(path[0]!) || path.length === 1)
  .filter(([reg, path]) => reg !== null || path.length === 1 || path[0] !== 'localhost')
  .map(([reg, path, tg, dg]) => {
    const name = reg === null ? path.join('/') : `${reg}/${path.join('/')}`;
    const text = name + (tg === null ? '' : `:${tg}`) + (dg === null ? '' : `@${dg}`);
    const registryWant = reg ?? 'docker.io';
    const repository = reg === null && path.length === 1 ? `library/${path[0]}` : path.join('/');
    return {
      text,
      want: {
        registry: registryWant,
        repository,
        tag: tg ?? (dg === null ? 'latest' : undefined),
        digest: dg ?? undefined,
      },
    };
  })
  .filter(
    ({ want }) =>
      `${want.registry}/${want.repository}`.length <= 255 && !/^[a-f0-9]{64}$/.test(want.repository),
  );

const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: fc.constantFrom(...'aZ09.:/@-_[]'), maxLength: 60 }),
);

const CORPUS = corpus<string>('image-refs');

t.test('the corpus replays: hostile references and past findings', (t) => {
  for (const input of CORPUS) t.doesNotThrow(() => roundTrip(input), JSON.stringify(input.slice(0, 60)));
  t.end();
});

t.test('parseImageReference throws only InvalidImageReferenceError; parse/format round-trips', (t) => {
  fc.assert(fc.property(anyText, roundTrip), params<[string]>());
  t.pass('property held');
  t.end();
});

t.test('valid references parse to the fields they were built from', (t) => {
  fc.assert(
    fc.property(written, ({ text, want }) => {
      const ref = parseImageReference(text);
      if (ref.original !== text) throw new Error('original changed');
      const got = { registry: ref.registry, repository: ref.repository, tag: ref.tag, digest: ref.digest };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(`${text}: ${JSON.stringify(got)} instead of ${JSON.stringify(want)}`);
      }
      roundTrip(text);
    }),
    params<[{ text: string; want: Record<string, string | undefined> }]>(),
  );
  t.pass('property held');
  t.end();
});
