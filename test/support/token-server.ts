// A small Docker registry token server for tests: RS256 JWTs the CNCF distribution registry
// accepts with `auth.token.rootcertbundle` (header `kid` = libtrust key ID of the root cert).
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  createSign,
  generateKeyPairSync,
  randomUUID,
} from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface TokenRequestLog {
  method: string;
  scopes: string[];
  account: string | undefined;
  status: number;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  rootCertFile: string;
  requests: TokenRequestLog[];
  /** Signs a token directly (for pushing test images). */
  issue(account: string, scopes: string[]): string;
  close(): Promise<void>;
}

export interface TokenServerOptions {
  dir: string;
  users: Record<string, string>;
  /** identitytoken -> account, for the OAuth2 refresh_token grant. */
  refreshTokens?: Record<string, string>;
  anonymousPull?: boolean;
  expiresIn?: number;
  service?: string;
  issuer?: string;
}

/** libtrust key ID: base32 of the first 240 bits of SHA-256(SPKI DER), in 4-character groups. */
export function libtrustKeyId(spkiDer: Buffer): string {
  const hash = createHash('sha256').update(spkiDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of hash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join(':');
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function selfSignedCert(privatePem: string, publicPem: string): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: 'image-watcher test token issuer' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([{ name: 'basicConstraints', cA: true }]);
  cert.sign(forge.pki.privateKeyFromPem(privatePem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope.slice(last + 1).split(','),
  };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const kid = libtrustKeyId(createPublicKey(publicPem).export({ type: 'spki', format: 'der' }));
  const rootCertFile = join(opts.dir, 'token-root.pem');
  await writeFile(rootCertFile, selfSignedCert(privatePem, publicPem));
  const service = opts.service ?? 'test-registry';
  const issuer = opts.issuer ?? 'test-token-issuer';
  const expiresIn = opts.expiresIn ?? 300;
  const key = createPrivateKey(privatePem);
  const requests: TokenRequestLog[] = [];

  const issue = (account: string, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      const p = parseScope(s);
      return p ? [{ type: p.type, name: p.name, actions: p.actions }] : [];
    });
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid }));
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: account,
        aud: service,
        exp: now + expiresIn,
        nbf: now - 5,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signer = createSign('RSA-SHA256');
    signer.update(`${header}.${claims}`);
    return `${header}.${claims}.${b64url(signer.sign(key))}`;
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const reply = (status: number, body: unknown, scopes: string[], account: string | undefined): void => {
        requests.push({ method: req.method ?? 'GET', scopes, account, status });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      let account: string | undefined;
      let scopes: string[];
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        scopes = form.getAll('scope').flatMap((s) => s.split(' '));
        const who =
          form.get('grant_type') === 'refresh_token'
            ? opts.refreshTokens?.[form.get('refresh_token') ?? '']
            : undefined;
        if (!who) return reply(401, { error: 'invalid_grant' }, scopes, undefined);
        account = who;
      } else {
        scopes = url.searchParams.getAll('scope');
        const auth = req.headers.authorization;
        if (auth?.startsWith('Basic ')) {
          const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
          const colon = decoded.indexOf(':');
          const user = decoded.slice(0, colon);
          if (colon < 0 || opts.users[user] !== decoded.slice(colon + 1)) {
            return reply(
              401,
              { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] },
              scopes,
              undefined,
            );
          }
          account = user;
        }
      }
      // Anonymous callers get pull only when allowed; a token without access makes the registry answer 401.
      const granted = account !== undefined || opts.anonymousPull ? scopes : [];
      const anonymousPullOnly = account === undefined;
      const effective = granted.map((s) => (anonymousPullOnly ? s.replace(/:[^:]*$/, ':pull') : s));
      const token = issue(account ?? '', effective);
      reply(
        200,
        { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() },
        scopes,
        account,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertFile,
    requests,
    issue,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
