import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isDockerHub } from './endpoint.ts';
import type { RegistryCredentials } from './types.ts';
import { ImageWatcherError } from '../../shared/errors.ts';

/** Key of an `auths` entry reduced to `host[:port]`: scheme, path and case dropped. */
export function normaliseAuthKey(key: string): string {
  let k = key.trim().toLowerCase();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  return k;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function entryCredentials(entry: unknown): RegistryCredentials | undefined {
  if (!isRecord(entry)) return undefined;
  const creds: RegistryCredentials = {};
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      creds.username = decoded.slice(0, colon);
      creds.password = decoded.slice(colon + 1);
    }
  }
  if (typeof entry.username === 'string' && entry.username !== '') creds.username = entry.username;
  if (typeof entry.password === 'string' && entry.password !== '') creds.password = entry.password;
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    creds.identityToken = entry.identitytoken;
  }
  if (creds.identityToken === undefined && (creds.username === undefined || creds.password === undefined)) {
    return undefined;
  }
  return creds;
}

/**
 * Credentials for a registry from a Docker `config.json` or a `kubernetes.io/dockerconfigjson`
 * secret (`{ auths: {...} }`), or a legacy `.dockercfg` map. Keys may carry a scheme and path
 * (`https://index.docker.io/v1/`); Docker Hub matches any of its aliases.
 */
export function credentialsFor(registry: string, dockerConfigJson: unknown): RegistryCredentials | undefined {
  if (!isRecord(dockerConfigJson)) return undefined;
  const auths = isRecord(dockerConfigJson.auths) ? dockerConfigJson.auths : dockerConfigJson;
  const wanted = registry.toLowerCase();
  const hub = isDockerHub(wanted);
  for (const [key, entry] of Object.entries(auths)) {
    const k = normaliseAuthKey(key);
    if (k === wanted || (hub && isDockerHub(k))) {
      const creds = entryCredentials(entry);
      if (creds) return creds;
    }
  }
  return undefined;
}

export class DockerConfigError extends ImageWatcherError {
  constructor(message: string, cause?: unknown) {
    super('E_DOCKER_CONFIG', message, cause === undefined ? undefined : { cause });
  }
}

/**
 * Reads `config.json` from DOCKER_CONFIG (default `~/.docker`). A missing file means no
 * credentials; an unreadable or invalid one is an error naming the file (never its content).
 */
export async function readDockerConfig(dir: string | undefined): Promise<unknown> {
  const file = join(dir && dir !== '' ? dir : join(homedir(), '.docker'), 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DockerConfigError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      err,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new DockerConfigError(`${file} is not valid JSON: fix or remove it (DOCKER_CONFIG)`);
  }
}
