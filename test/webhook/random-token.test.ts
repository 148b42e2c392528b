import t from 'tap';
import { pooledRandomToken } from '../../webhook/random-token.ts';

t.test('tokens are 32 bytes in base64url, distinct across pool refills', (t) => {
  const next = pooledRandomToken(4);
  const tokens = Array.from({ length: 50 }, () => next());
  for (const token of tokens) {
    t.match(token, /^[A-Za-z0-9_-]{43}$/);
    t.equal(Buffer.from(token, 'base64url').length, 32);
  }
  t.equal(new Set(tokens).size, tokens.length, 'no token is handed out twice');
  t.end();
});

t.test('separate sources do not share bytes', (t) => {
  const a = pooledRandomToken();
  const b = pooledRandomToken();
  t.not(a(), b());
  t.end();
});
