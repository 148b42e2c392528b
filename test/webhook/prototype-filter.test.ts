import t from 'tap';
import { MAYBE_PROTOTYPE_KEY } from '../../webhook/app.ts';

/** Every way JSON can write `word`: each character literal or as \u00XX, hex digits in either case. */
function* spellings(word: string): Generator<string> {
  const options = [...word].map((c) => {
    const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
    return [c, `\\u${hex.toLowerCase()}`, `\\u${hex.toUpperCase()}`];
  });
  function* go(i: number, prefix: string): Generator<string> {
    if (i === options.length) {
      yield prefix;
      return;
    }
    for (const o of options[i]!) yield* go(i + 1, prefix + o);
  }
  yield* go(0, '');
}

t.test('the fast filter matches every spelling of a prototype key (fastify then removes it)', (t) => {
  for (const key of ['__proto__', 'constructor']) {
    let n = 0;
    let missed: string | undefined;
    for (const s of spellings(key)) {
      n++;
      if (missed === undefined && !MAYBE_PROTOTYPE_KEY.test(`{"a":1,"${s}":{"x":1}}`)) missed = s;
    }
    t.equal(missed, undefined, `${key}: all ${n} spellings match`);
  }
  t.end();
});

t.test('the fast filter lets an ordinary review through', (t) => {
  const review = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u', object: { metadata: { annotations: { 'image-watcher/include': '^1\\.' } } } },
  });
  t.notOk(MAYBE_PROTOTYPE_KEY.test(review));
  t.end();
});
