import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';

export interface SelfSignedCertificate {
  /** PEM of the generated CA: the caBundle of the MutatingWebhookConfiguration. */
  caCert: string;
  /** PEM of the serving certificate, signed by the CA. */
  cert: string;
  /** PEM (PKCS#8) private key of the serving certificate. */
  key: string;
}

export interface SelfSignedOptions {
  /** DNS names and IP addresses the serving certificate is valid for. */
  hosts: readonly string[];
  now: Date;
  validDays?: number;
}

/** Every name the API server may use to reach the webhook Service, plus local names for testing. */
export function webhookHosts(service: string, namespace: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    'localhost',
    '127.0.0.1',
  ];
}

// RSA keys come from node:crypto (native, much faster than forge's JS); forge only builds and signs.
function rsaKeyPair(): {
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
  pem: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    privateKey: forge.pki.privateKeyFromPem(privateKey),
    publicKey: forge.pki.publicKeyFromPem(publicKey),
    pem: privateKey,
  };
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // a positive INTEGER
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, now: Date, days: number): void {
  // Tolerate a little clock skew between this pod and the API server.
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
}

/**
 * A throw-away CA and a serving certificate signed by it, for running without cert-manager:
 * the CA PEM must then be put into the webhook configuration's caBundle.
 */
export function generateSelfSigned(opts: SelfSignedOptions): SelfSignedCertificate {
  const days = opts.validDays ?? 365;
  const ca = rsaKeyPair();
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = ca.publicKey;
  caCert.serialNumber = serialNumber();
  validity(caCert, opts.now, days);
  const caSubject = [{ name: 'commonName', value: 'image-watcher webhook CA' }];
  caCert.setSubject(caSubject);
  caCert.setIssuer(caSubject);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const leaf = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = leaf.publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, opts.now, days);
  cert.setSubject([{ name: 'commonName', value: opts.hosts[0] ?? 'localhost' }]);
  cert.setIssuer(caSubject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: opts.hosts.map((host) =>
        isIP(host) !== 0 ? { type: 7, ip: host } : { type: 2, value: host },
      ),
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.privateKey, forge.md.sha256.create());

  return {
    caCert: forge.pki.certificateToPem(caCert),
    cert: forge.pki.certificateToPem(cert),
    key: leaf.pem,
  };
}

/**
 * Writes the CA PEM to `<tmpdir>/image-watcher-webhook-XXXXXX/ca.pem` (for `curl --cacert`) and
 * returns the path; undefined on a read-only file system, where the logged caBundle remains.
 */
export function writeCaFile(caCert: string, dir: string = tmpdir()): string | undefined {
  try {
    const file = join(mkdtempSync(join(dir, 'image-watcher-webhook-')), 'ca.pem');
    writeFileSync(file, caCert.replace(/\r\n/g, '\n'), { mode: 0o644 });
    return file;
  } catch {
    return undefined;
  }
}
