import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { ImageWatcherError } from '../shared/errors.ts';

/** The serving certificate or key cannot be used. */
export class TlsError extends ImageWatcherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_TLS', message, options);
  }
}

/**
 * Forward-secret AEAD suites only. TLS 1.2: ECDHE with AES-GCM or ChaCha20-Poly1305 (no CBC, no
 * static RSA key exchange); TLS 1.3: its three standard suites (all of them are AEAD and ECDHE).
 * Also given to setSecureContext on reload, which otherwise falls back to Node's defaults.
 */
export const TLS_OPTIONS = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
} as const;

export interface KeyPair {
  cert: string;
  key: string;
}

/**
 * Reads a PEM certificate (chain) and key and checks they belong together, so a half-written
 * rotation is never served.
 */
export async function readKeyPair(certFile: string, keyFile: string): Promise<KeyPair> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new TlsError(`cannot read TLS_CERT_FILE/TLS_KEY_FILE: ${why}`, { cause: err });
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new TlsError(
      `TLS_CERT_FILE ${certFile} and TLS_KEY_FILE ${keyFile} are not a matching PEM certificate and key: ${why}`,
      { cause: err },
    );
  }
  return { cert, key };
}

export interface CertificateReloaderOptions {
  certFile: string;
  keyFile: string;
  /** The pair currently served; only a different pair is applied. */
  current: KeyPair;
  /** Installs a new pair, e.g. `server.setSecureContext(pair)`. */
  apply: (pair: KeyPair) => void;
  logger: Logger;
  /** Periodic re-read, for file systems where fs.watch misses events. */
  intervalMs?: number;
  /** Wait for a burst of file events to settle (cert-manager writes several files). */
  debounceMs?: number;
}

export type ReloadResult = 'changed' | 'unchanged' | 'failed';

/**
 * Reloads the serving certificate when its files change. Mounted Secrets are swapped atomically
 * through a `..data` symlink, so the directories are watched, not the files; a periodic re-read
 * covers the cases fs.watch does not see. A broken new pair is logged and the old one kept.
 */
export class CertificateReloader {
  readonly #opts: CertificateReloaderOptions;
  #current: KeyPair;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #running: Promise<ReloadResult> | undefined;
  #again = false;

  constructor(opts: CertificateReloaderOptions) {
    this.#opts = opts;
    this.#current = opts.current;
  }

  start(): void {
    const { logger } = this.#opts;
    for (const dir of new Set([dirname(this.#opts.certFile), dirname(this.#opts.keyFile)])) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.#schedule());
        watcher.on('error', (err) =>
          logger.warn({ err, dir }, 'stopped watching TLS directory; polling only'),
        );
        this.#watchers.push(watcher);
      } catch (err) {
        logger.warn({ err, dir }, 'cannot watch TLS directory; polling only');
      }
    }
    this.#timer = setInterval(() => this.#schedule(0), this.#opts.intervalMs ?? 30_000);
    this.#timer.unref();
  }

  stop(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
  }

  /** Re-reads the files now; concurrent calls share one read and queue at most one more. */
  reload(): Promise<ReloadResult> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#reloadOnce().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        void this.reload();
      }
    });
    return this.#running;
  }

  #schedule(delay = this.#opts.debounceMs ?? 200): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.reload(), delay);
    this.#debounce.unref();
  }

  async #reloadOnce(): Promise<ReloadResult> {
    const { logger } = this.#opts;
    let pair: KeyPair;
    try {
      pair = await readKeyPair(this.#opts.certFile, this.#opts.keyFile);
    } catch (err) {
      logger.error({ err }, 'new TLS certificate not usable; still serving the previous one');
      return 'failed';
    }
    if (pair.cert === this.#current.cert && pair.key === this.#current.key) return 'unchanged';
    try {
      this.#opts.apply(pair);
    } catch (err) {
      logger.error({ err }, 'cannot install the new TLS certificate; still serving the previous one');
      return 'failed';
    }
    this.#current = pair;
    logger.info({ certFile: this.#opts.certFile }, 'TLS certificate reloaded');
    return 'changed';
  }
}
