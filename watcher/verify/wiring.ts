// The signature gate built from the watcher settings (VERIFY_SIGNATURES, VERIFY_KEYS_FILE,
// VERIFY_TRUSTED_ROOT): files are read once at start; a bad one stops the process with a
// message naming the variable.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ConfigError } from '../../shared/env.ts';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { WatcherSettings } from '../config.ts';
import type { RegistryArtifacts } from '../registry/types.ts';
import { parseTrustedRoot } from './bundle.ts';
import { createSignatureGate } from './gate.ts';
import type { SignatureGate } from './gate.ts';
import { createKeySource, kubeObjectReader } from './key-source.ts';
import type { ReadObject } from './key-source.ts';
import { parsePublicKeys } from './keys.ts';
import type { TrustedKey } from './types.ts';

async function readSetting(path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    throw new ConfigError(variable, `${variable}: cannot read ${path} (${code})`);
  }
}

function asConfigError<T>(variable: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof ImageWatcherError) {
      const text = err.message.startsWith(variable) ? err.message : `${variable}: ${err.message}`;
      throw new ConfigError(variable, text);
    }
    throw err;
  }
}

export async function signatureGateFromSettings(opts: {
  settings: Pick<WatcherSettings, 'verifySignatures' | 'verifyKeysFile' | 'verifyTrustedRoot'>;
  registry: RegistryArtifacts;
  kubeConfig: KubeConfig;
  /** Replaces the Secret/ConfigMap reader (tests). */
  readObject?: ReadObject;
  now: () => number;
  metrics: { observeSignatureCheck(result: string): void };
  logger: Logger;
}): Promise<SignatureGate> {
  const { settings } = opts;
  let keys: TrustedKey[] = [];
  if (settings.verifyKeysFile) {
    const text = await readSetting(settings.verifyKeysFile, 'VERIFY_KEYS_FILE');
    keys = asConfigError('VERIFY_KEYS_FILE', () => parsePublicKeys(text, 'VERIFY_KEYS_FILE'));
  }
  let trustMaterial;
  let trustedRootId: string | undefined;
  if (settings.verifyTrustedRoot) {
    const text = await readSetting(settings.verifyTrustedRoot, 'VERIFY_TRUSTED_ROOT');
    trustMaterial = asConfigError('VERIFY_TRUSTED_ROOT', () =>
      parseTrustedRoot(text, settings.verifyTrustedRoot!),
    );
    trustedRootId = createHash('sha256').update(text).digest('hex').slice(0, 16);
  }
  opts.logger.info(
    {
      default: settings.verifySignatures,
      clusterKeys: keys.length,
      trustedRoot: trustMaterial !== undefined,
    },
    'signature verification',
  );
  return createSignatureGate({
    registry: opts.registry,
    keys: createKeySource({ read: opts.readObject ?? kubeObjectReader(opts.kubeConfig), now: opts.now }),
    defaultMode: settings.verifySignatures,
    clusterKeys: keys,
    trustMaterial,
    trustedRootId,
    metrics: opts.metrics,
    logger: opts.logger,
  });
}
