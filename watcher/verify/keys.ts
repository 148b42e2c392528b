import { createHash, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { TrustedKey } from './types.ts';

export class VerifyKeyError extends ImageWatcherError {
  constructor(message: string) {
    super('E_VERIFY_KEY', message);
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
const MAX_KEYS = 32;

/** Key types cosign signs with: ECDSA P-256 (and P-384/P-521), Ed25519, RSA. */
function checkType(key: KeyObject, name: string): void {
  const t = key.asymmetricKeyType;
  if (t === 'ec' || t === 'ed25519' || t === 'rsa') return;
  throw new VerifyKeyError(`${name} is a ${t ?? 'unknown'} key; cosign keys are ECDSA, Ed25519 or RSA`);
}

/** Every PUBLIC KEY block of a PEM text; `name` says where it came from in messages. */
export function parsePublicKeys(pem: string, name: string): TrustedKey[] {
  const keys: TrustedKey[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    const label = m[1]!;
    if (label !== 'PUBLIC KEY' && label !== 'RSA PUBLIC KEY') {
      throw new VerifyKeyError(`${name} holds a ${label} block; only public keys belong there`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey(m[0]);
    } catch {
      throw new VerifyKeyError(`${name} holds a PEM public key that cannot be read`);
    }
    checkType(key, name);
    keys.push({ name: keys.length === 0 ? name : `${name} #${keys.length + 1}`, key });
    if (keys.length > MAX_KEYS) throw new VerifyKeyError(`${name} holds more than ${MAX_KEYS} keys`);
  }
  if (keys.length === 0) throw new VerifyKeyError(`${name} holds no PEM public key`);
  return keys;
}

/** sha256 of the key's DER (SubjectPublicKeyInfo), hex: what cache ids and logs name a key by. */
export function keyFingerprint(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}
