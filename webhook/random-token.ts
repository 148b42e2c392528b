import { randomFillSync } from 'node:crypto';

/** `image-watcher/token-update` is 32 random bytes in base64url (43 characters). */
const TOKEN_BYTES = 32;

/**
 * A source of fresh tokens: 32 bytes from the CSPRNG each, base64url. The bytes are drawn from a
 * pool refilled `poolTokens` tokens at a time (as Node does for randomUUID), because one
 * randomBytes() call per admission review costs more than the rest of stamping. Every byte is
 * handed out once.
 */
export function pooledRandomToken(poolTokens = 128): () => string {
  const pool = Buffer.alloc(TOKEN_BYTES * poolTokens);
  let offset = pool.length;
  return () => {
    if (offset >= pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const token = pool.toString('base64url', offset, offset + TOKEN_BYTES);
    offset += TOKEN_BYTES;
    return token;
  };
}
